"""Loading YAML into pydantic models with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
# libyaml's safe loader when PyYAML has it (wheels do): the same documents, several times faster.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_timezone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
    return v


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
"""An IANA time zone name, checked when the config is read."""


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid; the message names file and field."""


def _field_path(loc: tuple, data: object = None) -> str:
    """`cameras[0] (id 'gate-3').zones...`: list items that carry an id are named by it too."""
    out, node = "", data
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
        if isinstance(part, int) and isinstance(node, dict) and "id" in node:
            out += f" (id {node['id']!r})"
    return out or "(top level)"


def format_validation_error(source: str, err: ValidationError, data: object = None) -> str:
    lines = [f"{source}: {err.error_count()} invalid field(s)"]
    for e in err.errors():
        lines.append(f"  {_field_path(e['loc'], data)}: {e['msg']}")
    return "\n".join(lines)


def read_yaml(path: str | Path) -> object:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{path}: not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start} (line {line}); "
            "save the file as UTF-8 (a GBK editor? re-save it with UTF-8 encoding)"
        ) from None
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(e)}") from None


def _yaml_problem(e: yaml.YAMLError) -> str:
    """One line: what is wrong and where (PyYAML's own message spans several lines with a code excerpt)."""
    if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:
        mark = e.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {e.problem}" + (f" ({e.context})" if e.context else "")
    return " ".join(str(e).split())


def validate(model: type[M], data: object, source: str) -> M:
    """Validate `data` as `model`; `source` (a file name) starts every error line."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as e:
        raise ConfigError(format_validation_error(source, e, data)) from None


def load_yaml(model: type[M], path: str | Path) -> M:
    return validate(model, read_yaml(path), str(path))
