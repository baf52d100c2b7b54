"""Loading YAML into pydantic models with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


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
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None


def validate(model: type[M], data: object, source: str) -> M:
    """Validate `data` as `model`; `source` (a file name) starts every error line."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as e:
        raise ConfigError(format_validation_error(source, e, data)) from None


def load_yaml(model: type[M], path: str | Path) -> M:
    return validate(model, read_yaml(path), str(path))
