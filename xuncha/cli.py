"""The `xuncha` command. Each room registers its own subcommands; this file only dispatches."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from xuncha.config import ConfigError
from xuncha.detector.onnx import ModelError
from xuncha.redact import MaskingFormatter

Register = Callable[[argparse._SubParsersAction], None]


def _registrars() -> list[Register]:
    # Imported here so `xuncha --help` stays fast and one broken room names itself.
    from xuncha import demo, worker
    from xuncha.bench import cli as bench_cli
    from xuncha.detector import cli as detector_cli
    from xuncha.review import cli as review_cli

    return [demo.register, worker.register, detector_cli.register, review_cli.register, bench_cli.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xuncha", description="巡查 video-inspection auto-recognition")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
