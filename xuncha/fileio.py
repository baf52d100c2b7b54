"""Writing files so that readers (and a crash) never see half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` beside `path`, flush it to disk, then rename it over `path`.

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> write_atomic(d / "a" / "x.txt", b"hi"); (d / "a" / "x.txt").read_bytes()
    b'hi'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
