"""SIGTERM while the main thread is inside `stop.wait()` stops the worker (the root cause of the rare hang).

`Event.wait()` holds the event's internal lock for a few bytecodes around each wait; a Python signal
handler runs in the main thread between bytecodes. The script below holds that lock exactly as
`stop.wait()` does and signals itself: a handler that calls `stop.set()` deadlocks there for ever,
`stop_on_signals` (the handler writes to a pipe, a thread sets the event) does not.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import logging, os, signal, sys, threading
    logging.basicConfig(level=logging.INFO)
    from xuncha.worker.command import stop_on_signals

    stop = threading.Event()
    if sys.argv[1] == "set-in-handler":  # the handler the worker had
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    else:
        stop_on_signals(stop, grace_s=30)
    print("armed", flush=True)
    with stop._cond:  # what the main loop holds inside stop.wait(0.05)
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # bytecodes in which the handler runs
            pass
    print("stopped" if stop.wait(10) else "not stopped", flush=True)
    """
)


def run(mode: str) -> tuple[str, str] | None:
    """(stdout after arming, stderr), or None when the process hung after arming (killed after 10 s)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "armed"  # imports done, however slow the machine
    try:
        proc.wait(timeout=10)  # the output is a few lines: the pipes cannot fill
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    # Read through the text wrappers: readline() may already hold the rest of stdout in its buffer,
    # which communicate() (it reads the file descriptors) would miss.
    out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == 0, err
    return out, err


def test_a_signal_while_the_loop_waits_stops_the_worker() -> None:
    done = run("stop-on-signals")
    assert done is not None
    assert done[0].strip() == "stopped"
    assert "signal SIGTERM received: stopping" in done[1]


def test_setting_the_event_in_the_handler_deadlocks() -> None:
    """The old handler, in the same moment: the process never gets past the signal."""
    assert run("set-in-handler") is None
