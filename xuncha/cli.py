"""The `xuncha` command. Each room registers its own subcommands; this file only dispatches."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from xuncha.detector.modelcard import ModelError
from xuncha.redact import MaskingFormatter
from xuncha.yamlfile import ConfigError

Register = Callable[[argparse._SubParsersAction], None]


# Each command and the module (room) whose `register` adds it.
ROOMS = {
    "demo": "xuncha.demo",
    "worker": "xuncha.worker.command",
    "detect": "xuncha.detector.cli",
    "models": "xuncha.detector.cli",
    "review": "xuncha.review.cli",
    "bench": "xuncha.bench.cli",
    "train": "xuncha.train.cli",
}


def _registrars(argv: Sequence[str] = ()) -> list[Register]:
    """The rooms to register: only the named command's when argv names one (importing every room costs
    seconds: `xuncha review create-user` need not load onnxruntime), else all (for --help and errors)."""
    command = next((a for a in argv if not a.startswith("-")), None)
    modules = [ROOMS[command]] if command in ROOMS else list(dict.fromkeys(ROOMS.values()))
    return [importlib.import_module(m).register for m in modules]


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xuncha", description="巡查 video-inspection auto-recognition")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars(argv):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    try:
        return int(args.func(args) or 0)
    except (ConfigError, ModelError) as e:
        print(f"xuncha: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
