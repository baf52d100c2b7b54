"""The benchmark scripts: each module here is one command, `xuncha bench NAME ARGS...`, NAME being the module's
name with dashes for underscores. Its docstring's first paragraph is the command's help line, and its `main()`
parses ARGS with its own argparse (`xuncha bench NAME --help`) and prints the run's table beside its baseline."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
QUOTES = '"' * 3


def scripts() -> dict[str, str]:
    """Command name -> one-line description, for every script module, read from the source: importing them all
    would load onnxruntime, OpenCV and Playwright just to print a help page."""
    found = {}
    for path in sorted(HERE.glob("*.py")):
        if path.stem != "__init__":
            found[path.stem.replace("_", "-")] = summary(path.read_text(encoding="utf-8"))
    return found


def summary(source: str) -> str:
    r"""The first paragraph of the docstring that opens `source`, on one line.

    >>> summary(QUOTES + "Broker growth: file size\n  as events go.\n\nMore." + QUOTES + "\nimport os")
    'Broker growth: file size as events go.'
    """
    doc = source.split(QUOTES, 2)[1] if source.startswith(QUOTES) else ""
    return " ".join(doc.split("\n\n")[0].split())


def module_name(command: str) -> str:
    """The module that runs `xuncha bench COMMAND`.

    >>> module_name("live-worker")
    'xuncha.bench.scripts.live_worker'
    """
    return f"{__name__}.{command.replace('-', '_')}"
