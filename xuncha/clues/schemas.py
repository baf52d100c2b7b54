"""The message contracts as JSON Schema files (clues/schema/): `python -m xuncha.clues [--check]`.

Apart from the contracts themselves so that both contract modules (`contracts`, `dispatch`) sit below
it and neither imports the other back.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from xuncha.clues.contracts import ClueEvent, LeaseNotice
from xuncha.clues.dispatch import CaseMessage, RecheckRequest, RecheckResult

SCHEMA_DIR = Path(__file__).with_name("schema")
SCHEMA_FILE = SCHEMA_DIR / "clue_event.json"


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **model.model_json_schema()}


def _exported() -> dict[Path, type[BaseModel]]:
    return {
        SCHEMA_FILE: ClueEvent,
        SCHEMA_DIR / "case_message.json": CaseMessage,
        SCHEMA_DIR / "recheck_request.json": RecheckRequest,
        SCHEMA_DIR / "recheck_result.json": RecheckResult,
        SCHEMA_DIR / "lease_notice.json": LeaseNotice,
    }


def schema_text(model: type[BaseModel] = ClueEvent) -> str:
    return json.dumps(_schema(model), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export the message contracts as JSON Schema.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed schema is stale")
    args = parser.parse_args(argv)
    stale = 0
    for path, model in _exported().items():
        text = schema_text(model)
        if args.check:
            if (path.read_text(encoding="utf-8") if path.exists() else "") != text:
                print(f"{path} is stale: run python -m xuncha.clues", file=sys.stderr)
                stale = 1
            continue
        SCHEMA_DIR.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return stale
