"""A camera's zone set as pydantic models: zones drawn on the reference picture and their rules.

Every field carries a description so the config reference and the zone editor's forms can be
generated from these models. Errors inside a zone start with the zone id.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from shapely.geometry import MultiPoint, Polygon
from shapely.validation import explain_validity

from xuncha.clues.limits import ID_CHARS, NAME_CHARS
from xuncha.taxonomy import Taxonomy
from xuncha.yamlfile import ConfigError
from xuncha.zones.rule import Rule, TextPattern
from xuncha.zones.scenes import Scene, load_scenes

# Normalised area below which a polygon is degenerate (~20 px² on a 1920x1080 frame).
MIN_POLYGON_AREA = 1e-5
# A drawn zone has a dozen points, a traced kerb a few hundred; more is an export gone wrong (and slow to test).
MAX_POLYGON_POINTS = 1000


def check_polygon(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A valid simple polygon in 0-1 coordinates (a closed ring's repeated first point dropped)."""
    if len(pts) > 3 and pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) > MAX_POLYGON_POINTS:
        raise ValueError(f"has {len(pts)} points, at most {MAX_POLYGON_POINTS} (simplify the polygon)")
    if len(pts) < 3:
        raise ValueError(f"needs at least 3 points, got {len(pts)}")
    bad = [i for i, (x, y) in enumerate(pts) if not (0 <= x <= 1 and 0 <= y <= 1)]
    if bad:
        raise ValueError(f"point(s) {bad} outside 0-1 (coordinates are fractions of the picture, not pixels)")
    poly = Polygon(pts)
    # Hull first: collinear points are "degenerate"; a bow-tie (zero net area too) is "self-intersecting".
    if MultiPoint(pts).convex_hull.area < MIN_POLYGON_AREA:
        raise ValueError("degenerate: the points lie (almost) on one line")
    if not poly.is_valid:
        raise ValueError(f"self-intersecting: {explain_validity(poly)} (edges must not cross or touch)")
    if poly.area < MIN_POLYGON_AREA:
        raise ValueError(f"degenerate: area {poly.area:.2g} of the picture, needs > {MIN_POLYGON_AREA}")
    return pts


class ZoneError(ValueError):
    """A zone or mask failed validation; `errors` keeps pydantic's structured errors (for Chinese messages)."""

    def __init__(self, item_id: object, errors: list[dict[str, Any]]) -> None:
        parts = []
        for err in errors:
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        super().__init__(f"zone {item_id!r}: " + "; ".join(parts))
        self.item_id = item_id
        self.errors = errors


def _name_item(data: Any, handler: Any) -> Any:
    """Run `handler`; every error inside a zone or mask then starts with its id."""
    try:
        return handler(data)
    except ValidationError as e:
        item_id = data.get("id") if isinstance(data, dict) else getattr(data, "id", None)
        raise ZoneError(item_id, e.errors()) from None


class Zone(BaseModel):
    """A polygon on the camera's reference picture and the categories watched inside it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        max_length=ID_CHARS,
        title="区域编号",
        description="Stable slug, unique within the camera (letters, digits, '-', '_'); clues refer to it",
    )
    name: str = Field(
        max_length=NAME_CHARS, title="区域名称", description="Name shown to operators, e.g. 配电箱旁人行道"
    )
    polygon: list[tuple[float, float]] = Field(
        title="多边形",
        description="Vertices [x, y] normalised 0-1 to the reference picture's width and height (>= 3 points)",
    )
    enabled: bool = Field(True, title="启用", description="Disabled zones are kept in the file but not applied")
    scene: list[str] = Field(
        default_factory=list,
        title="场景",
        description="Scene presets (场景) watched in this zone, e.g. exposed_garbage (xuncha scenes); a single "
        "id or a list; earlier scenes win when two name one object",
    )
    dwell_s: float | None = Field(
        None,
        ge=0,
        title="场景持续时间（秒）",
        description="Seconds before a clue for the zone's scene rules; empty = each category's default",
    )
    exclusive: bool = Field(
        False,
        title="独占区域",
        description="Detections that count here count in no other zone (a litter bin's zone inside a pavement "
        "zone); scenes may set it",
    )
    rules: list[Rule] = Field(default_factory=list, title="规则", description="Rules of this zone besides its scenes'")

    @field_validator("scene", mode="before")
    @classmethod
    def _scene_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("scene")
    @classmethod
    def _known_scenes(cls, v: list[str]) -> list[str]:
        catalogue = load_scenes()
        for sid in v:
            try:
                catalogue.get(sid)
            except KeyError as e:
                raise ValueError(e.args[0]) from None
        if len(set(v)) < len(v):
            raise ValueError(f"scene {v} lists a scene twice")
        return v

    @cached_property
    def scenes(self) -> list[Scene]:
        return [load_scenes().get(s) for s in self.scene]

    @cached_property
    def named_rules(self) -> list[tuple[str, Rule]]:
        """What the zone applies, with names for errors: its scenes' rules (with the zone's dwell_s), then its
        own rules, in this order (the order that breaks ties between named objects, see categorize.py)."""
        out = [
            (f"scene {s.id} rules[{i}]", r if self.dwell_s is None else r.model_copy(update={"dwell_s": self.dwell_s}))
            for s in self.scenes
            for i, r in enumerate(s.rules)
        ]
        return out + [(f"rules[{i}]", r) for i, r in enumerate(self.rules)]

    @property
    def all_rules(self) -> list[Rule]:
        return [r for _, r in self.named_rules]

    @property
    def claims(self) -> bool:
        """Whether the zone is exclusive (itself or through a scene)."""
        return self.exclusive or any(s.exclusive for s in self.scenes)

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return check_polygon(pts)

    @model_validator(mode="after")
    def _same_dwell_per_category(self) -> Zone:
        if not self.all_rules:
            raise ValueError("needs a scene or at least one rule")
        # A category has one dwell in a zone: confirmation asks for it by (zone, category).
        dwell: dict[str, float | None] = {}
        for r in self.all_rules:
            if dwell.setdefault(r.category, r.dwell_s) != r.dwell_s:
                raise ValueError(f"rules for category {r.category!r} give different dwell_s values")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _name_zone(cls, data: Any, handler: Any) -> Zone:
        # Defined last so it wraps the other validators: every error inside a zone starts with its id.
        return _name_item(data, handler)

    def dwell(self, category: str, taxonomy: Taxonomy) -> float:
        """Dwell seconds for a category watched in this zone."""
        for r in self.all_rules:
            if r.category == category:
                return r.dwell(taxonomy)
        raise KeyError(f"zone {self.id!r} has no rule for category {category!r}")


class Mask(BaseModel):
    """An area of the picture that never counts (a shop's own terrace, a tree that sways, a screen)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        max_length=ID_CHARS,
        title="屏蔽区编号",
        description="Stable slug, unique among the camera's zones and masks",
    )
    name: str = Field("", max_length=NAME_CHARS, title="屏蔽区名称", description="What is there, e.g. 店铺自有外摆区")
    polygon: list[tuple[float, float]] = Field(
        title="多边形",
        description="Vertices [x, y] normalised 0-1; a detection whose bottom-centre lies here is dropped in "
        "every zone",
    )

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return check_polygon(pts)

    @model_validator(mode="wrap")
    @classmethod
    def _name_mask(cls, data: Any, handler: Any) -> Mask:
        return _name_item(data, handler)


class ZoneSet(BaseModel):
    """All zones of one camera (one PTZ preset), drawn on one reference picture."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(1, ge=1, title="版本", description="Version of this zone set; raise it when zones are redrawn")
    reference_image: str | None = Field(
        None,
        title="参考画面",
        description="Path/URI of the picture the polygons were drawn on (for the editor, view checks)",
    )
    zones: list[Zone] = Field(default_factory=list, title="区域", description="The camera's zones")
    masks: list[Mask] = Field(
        default_factory=list, title="屏蔽区", description="Areas that never count, whatever the zone"
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> ZoneSet:
        first: dict[str, str] = {}
        items = [(f"zones[{i}]", z.id) for i, z in enumerate(self.zones)]
        items += [(f"masks[{i}]", m.id) for i, m in enumerate(self.masks)]
        for where, item_id in items:
            if item_id in first:
                raise ValueError(f"duplicate zone id {item_id!r} ({first[item_id]} and {where})")
            first[item_id] = where
        return self

    def get(self, zone_id: str) -> Zone:
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise KeyError(zone_id)

    def labels_used(self) -> frozenset[str]:
        """Every label the enabled zones' rules look at (labels, exclude_labels, with_labels): a model
        none of whose labels is here need not run on this camera."""
        return frozenset(
            lab
            for z in self.zones
            if z.enabled
            for r in z.all_rules
            for lab in (*r.labels, *r.exclude_labels, *r.with_labels)
        )


def check_zone_set(camera_id: str, zone_set: ZoneSet, taxonomy: Taxonomy) -> None:
    """Check that every rule's category exists in the taxonomy (disabled zones too: they may be re-enabled).

    Raises ConfigError listing every problem as "camera C, zone Z: ...".
    """
    problems = [
        f"camera {camera_id}, zone {z.id}: unknown category {r.category!r} ({name}; not in taxonomy "
        f"{taxonomy.standard})"
        for z in zone_set.zones
        for name, r in z.named_rules
        if r.category not in taxonomy
    ]
    if problems:
        raise ConfigError("\n".join(problems))


__all__ = [
    "MIN_POLYGON_AREA",
    "Mask",
    "Rule",
    "TextPattern",
    "Zone",
    "ZoneError",
    "ZoneSet",
    "check_polygon",
    "check_zone_set",
]
