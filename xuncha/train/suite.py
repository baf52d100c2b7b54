"""A scenario suite: its YAML spec, which of its objects are violations, and the files beside each video.

A suite file (`bench/scenarios/*.yaml`) names one background clip, its perspective (how tall a
reference bag is at two heights of the picture), the camera's zones, and a list of scenarios.
Each scenario places objects on the ground at given times; `composite.compose` renders it.

Whether an object is a violation follows from the zones: its base point lies in a zone and it
stays at least the zone's dwell plus `VIOLATION_MARGIN_S` (before its first gap, if it is taken away
and put back: the return continues the same violation). Objects that leave well before the dwell
or lie outside every zone are distractors; an object in between is a spec error (ambiguous truth).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from shapely.geometry import Point, Polygon

from xuncha.taxonomy import Taxonomy
from xuncha.yamlfile import ConfigError, read_yaml, validate
from xuncha.zones.model import Zone

START = datetime(2026, 5, 1, 9, 0, 0, tzinfo=UTC)  # wall time of every scenario's first frame
VIOLATION_MARGIN_S = 15.0  # time beyond the dwell for the stationary model (~4 s) and sampling
SHORT_MARGIN_S = 5.0  # a distractor that leaves is gone this long before its dwell would end
Kind = Literal[
    "dumped",
    "taken",
    "returned",
    "multi",
    "light_slow",
    "light_sudden",
    "shake",
    "outside",
    "standing",
    "crowd",
    "near",
    "edge",
    "hard_negative",
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SizeRef(_Spec):
    y: float = Field(ge=0, le=1, description="Image height (0 top, 1 bottom) of an object's base point")
    height: float = Field(gt=0, le=1, description="Height of a scale-1 object standing there, fraction of frame")


class Background(_Spec):
    clip: str = Field(description="File in the footage directory")
    segment: tuple[float, float] | None = Field(None, description="Seconds of the clip to use (default: all)")
    near: SizeRef = Field(description="Perspective reference low in the picture")
    far: SizeRef = Field(description="Perspective reference high in the picture")

    @model_validator(mode="after")
    def _refs(self) -> Background:
        if self.near.y <= self.far.y:
            raise ValueError("near.y must be below (greater than) far.y")
        if self.segment and not 0 <= self.segment[0] < self.segment[1]:
            raise ValueError(f"segment {self.segment} must be [start, end] with 0 <= start < end")
        return self


class ObjectSpec(_Spec):
    at: tuple[float, float] = Field(description="Base point (bottom centre) x, y, normalised 0-1")
    appear_s: float = Field(ge=0)
    disappear_s: float | None = Field(None, description="Seconds; empty = stays to the end")
    gaps: list[tuple[float, float]] = Field(
        default_factory=list,
        description="[from, to] seconds when the object is taken away and then put back at the same place "
        "(the same violation: one case for operators)",
    )
    scale: float = Field(1.0, gt=0, le=4, description="Size relative to the perspective reference")
    category: str | None = Field(
        None,
        description="What a clue for it should be named, when it is a violation; empty = the category of the "
        "zone's first rule (a bag in a zone with the exposed_garbage scene: 0102)",
    )
    shadow: bool = True
    dark: bool = Field(False, description="Recolour the cut-out to a dark bag tone (as xuncha train's composites)")
    cutout: str | None = Field(None, description="'<label file stem>#<line>'; empty = chosen by the seed")

    @model_validator(mode="after")
    def _times(self) -> ObjectSpec:
        if not all(0 < v < 1 for v in self.at):
            raise ValueError(f"at {self.at} must lie inside the picture (0-1)")
        if self.disappear_s is not None and self.disappear_s <= self.appear_s:
            raise ValueError("disappear_s must be after appear_s")
        last = self.appear_s
        for a, b in self.gaps:
            if not last < a < b or (self.disappear_s is not None and b >= self.disappear_s):
                raise ValueError(f"gaps must be ordered, non-overlapping and inside the stay, got {self.gaps}")
            last = b
        return self


class Lighting(_Spec):
    at_s: float = Field(ge=0, description="When the change starts")
    ramp_s: float = Field(0.0, ge=0, description="0 = sudden (lights switched), else a linear ramp")
    gain: float = Field(gt=0, le=4, description="Brightness factor after the change")


class ScenarioSpec(_Spec):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: Kind
    seed: int = 0
    duration_s: float | None = Field(None, gt=0, description="Default: the suite's")
    segment: tuple[float, float] | None = Field(None, description="Overrides the background's segment")
    objects: list[ObjectSpec] = Field(default_factory=list)
    lighting: Lighting | None = None
    shake_px: float = Field(0.0, ge=0, le=10, description="Largest camera shake offset in pixels")


class Suite(_Spec):
    scene: str | None = Field(None, description="The scene this suite measures (a group in the report)")
    background: Background
    fps: float = Field(5.0, gt=0, le=30, description="Output frame rate")
    duration_s: float = Field(60.0, gt=0)
    sample_interval_s: float = Field(1.0, gt=0, description="Worker sampling of the output video")
    detectors: dict = Field(default_factory=lambda: {"models": ["yolox_nano_coco"]}, description="Worker detectors")
    zones: list[Zone] = Field(min_length=1)
    scenarios: list[ScenarioSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Suite:
        ids = [s.id for s in self.scenarios]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate scenario ids {sorted(dup)}")
        return self


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; errors name the file and the field."""
    return validate(Suite, read_yaml(Path(path)), str(path))


# -- truth ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where and when one object is in the output: pixel box (xyxy), times, and what it counts as."""

    index: int
    box: tuple[float, float, float, float]
    start_s: float
    end_s: float | None
    gaps: tuple[tuple[float, float], ...]
    zone: str | None
    category: str | None
    violation: bool
    reason: str


def classify(suite: Suite, sc: ScenarioSpec, taxonomy: Taxonomy) -> list[tuple[str | None, str | None, bool, str]]:
    """(zone, category, violation, reason) per object of a scenario; raises ConfigError when ambiguous."""
    duration = sc.duration_s or suite.duration_s
    out = []
    for i, o in enumerate(sc.objects):
        # With gaps, the first stay alone must make the violation (the return only continues it).
        present = min(o.gaps[0][0] if o.gaps else o.disappear_s or duration, duration) - o.appear_s
        zone = next((z for z in suite.zones if z.enabled and Polygon(z.polygon).contains(Point(o.at))), None)
        if zone is None:
            out.append((None, None, False, "outside every zone"))
            continue
        category = o.category or zone.all_rules[0].category
        dwell = zone.dwell(category, taxonomy)
        if present >= dwell + VIOLATION_MARGIN_S:
            out.append((zone.id, category, True, f"in zone {zone.id} for {present:.0f} s >= dwell {dwell:.0f} s"))
        elif present <= dwell - SHORT_MARGIN_S:
            out.append((zone.id, category, False, f"gone after {present:.0f} s, dwell {dwell:.0f} s"))
        else:
            raise ConfigError(
                f"scenario {sc.id}: objects[{i}] stays {present:.0f} s in zone {zone.id}, too close to the "
                f"dwell {dwell:.0f} s for exact ground truth (need >= {dwell + VIOLATION_MARGIN_S:.0f} or "
                f"<= {dwell - SHORT_MARGIN_S:.0f})"
            )
    return out


def truth_doc(suite: Suite, sc: ScenarioSpec, size: tuple[int, int], placements: list[Placement]) -> dict:
    def item(p: Placement) -> dict:
        return {
            "object": p.index,
            "box": [round(c, 1) for c in p.box],
            "start_s": p.start_s,
            "end_s": p.end_s,
            "gaps": [list(g) for g in p.gaps],
            "zone": p.zone,
            "category": p.category,
            "reason": p.reason,
        }

    return {
        "scenario": sc.id,
        "kind": sc.kind,
        "seed": sc.seed,
        "video": f"{sc.id}.mp4",
        "fps": suite.fps,
        "duration_s": sc.duration_s or suite.duration_s,
        "frame_size": list(size),
        "start_time": START.isoformat(),
        "violations": [item(p) for p in placements if p.violation],
        "distractors": [item(p) for p in placements if not p.violation],
    }


def worker_doc(suite: Suite, sc: ScenarioSpec, video_name: str) -> dict:
    """A worker config watching the scenario video with the suite's zones (runnable with `xuncha worker`)."""
    return {
        "data_dir": f"var/{sc.id}",
        "detectors": suite.detectors,
        "cameras": [
            {
                "id": sc.id,
                "name": sc.id,
                "source": video_name,
                "sample_interval_s": suite.sample_interval_s,
                "start_time": START.isoformat(),
                "zones": [z.model_dump(mode="json", exclude_defaults=True) for z in suite.zones],
            }
        ],
    }
