"""Event categories as data (configs/taxonomy.yaml); see that file for how a city uses its own codes."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from xuncha.yamlfile import ConfigError, load_yaml

DEFAULT_TAXONOMY = Path(str(resources.files("xuncha") / "configs" / "taxonomy.yaml"))


class Category(BaseModel):
    code: str = Field(description="Category code used in clues, cases and zone rules")
    name: str = Field(description="Chinese name shown to operators")
    liuluan: str | None = Field(None, description="六乱 report group, if the category rolls up into one")
    dwell_s: float = Field(300, ge=0, description="Default dwell (seconds) before a sighting becomes a clue")
    alt_codes: dict[str, str] = Field(default_factory=dict, description="Codes under other standards")

    @property
    def major(self) -> str:
        return self.code[:2]


class Taxonomy(BaseModel):
    standard: str
    liuluan_groups: list[str] = Field(default_factory=list)
    majors: dict[str, str] = Field(default_factory=dict, description="大类 code -> name")
    categories: list[Category]

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        seen: set[str] = set()
        for i, c in enumerate(self.categories):
            if c.code in seen:
                raise ValueError(f"categories[{i}]: duplicate code {c.code!r}")
            seen.add(c.code)
            if c.liuluan is not None and c.liuluan not in self.liuluan_groups:
                raise ValueError(f"categories[{i}] ({c.code}): liuluan {c.liuluan!r} not in liuluan_groups")
        return self

    def get(self, code: str) -> Category:
        for c in self.categories:
            if c.code == code:
                return c
        raise KeyError(code)

    def __contains__(self, code: object) -> bool:
        return any(c.code == code for c in self.categories)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load a taxonomy file (the embedded default when `path` is None)."""
    return load_yaml(Taxonomy, path or DEFAULT_TAXONOMY)


__all__ = ["Category", "ConfigError", "Taxonomy", "load_taxonomy", "DEFAULT_TAXONOMY"]
