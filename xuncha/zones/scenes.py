"""The scene catalogue (场景): named rule presets a zone uses with `scene: <id>` (configs/scenes.yaml).

A scene is data, not code: its rules are ordinary zone rules, plus text for the people who pick it
(title, purpose, how it decides, known failure modes) that the README and the zone editor show.

>>> cat = load_scenes()
>>> cat.get("exposed_garbage").title, cat.get("exposed_garbage").rules[0].labels
('暴露垃圾', ['garbage'])
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xuncha.yamlfile import load_yaml
from xuncha.zones.rule import Rule

DEFAULT_SCENES = Path(str(resources.files("xuncha") / "configs" / "scenes.yaml"))


class Scene(BaseModel):
    """One documented preset: what it finds, with which labels and rules, and where it fails."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Id used in zone configs (scene: <id>)")
    title: str = Field(description="Chinese name shown in the zone editor, usually the category's name")
    category: str = Field(description="Category code the scene reports")
    purpose: str = Field(description="What the scene is for and where to draw its zone")
    how: str = Field(description="How it decides, in one or two sentences")
    failure_modes: list[str] = Field(default_factory=list, description="Known misses and false alarms")
    exclusive: bool = Field(False, description="Its zone claims its detections from every other zone")
    rules: list[Rule] = Field(min_length=1)

    @property
    def labels(self) -> list[str]:
        """Every label the scene's rules use (what the configured models must produce)."""
        return sorted({lab for r in self.rules for lab in r.labels})


class SceneCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenes: list[Scene] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SceneCatalogue:
        ids = [s.id for s in self.scenes]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate scene ids {dup}")
        return self

    def get(self, scene_id: str) -> Scene:
        for s in self.scenes:
            if s.id == scene_id:
                return s
        known = ", ".join(s.id for s in self.scenes)
        raise KeyError(f"unknown scene {scene_id!r} (known: {known})")


@cache
def load_scenes(path: Path = DEFAULT_SCENES) -> SceneCatalogue:
    """The scene catalogue (the embedded one by default); read once per path."""
    return load_yaml(SceneCatalogue, path)
