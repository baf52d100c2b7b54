"""One worker process: samples its cameras, detects, applies zones and confirmation, publishes clues.

`core.Worker` wires the stages (detector/, pipeline/, clues/) and keeps the I/O; the two ways to run
cameras are `files` (recorded files as fast as possible, `--once`) and `live` (feeds, leases, config
changes); `publish` turns confirmation transitions into clue events; `command` is `xuncha worker`.
"""

from xuncha.worker.core import Worker
from xuncha.worker.state import RunSummary

__all__ = ["RunSummary", "Worker"]
