"""A camera's zone set as pydantic models: zones drawn on the reference picture and their rules.

Every field carries a description so the config reference and the zone editor's forms can be
generated from these models. Errors inside a zone start with the zone id.
"""

from __future__ import annotations

import re
from typing import Any, Literal

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

from xuncha.config import ConfigError
from xuncha.taxonomy import Taxonomy
from xuncha.text.patterns import TEXT_LABELS, phone_numbers
from xuncha.zones.geometry import parse_hours

# Normalised area below which a polygon is degenerate (~20 px² on a 1920x1080 frame).
MIN_POLYGON_AREA = 1e-5


class TextPattern(BaseModel):
    """What the text a text rule reads must contain: any one of the given tests passing is enough."""

    model_config = ConfigDict(extra="forbid")

    phone: bool = Field(False, description="A phone number: mobile 1[3-9] + 9 digits, or a landline with area code")
    keywords: list[str] = Field(
        default_factory=list, description="Any of these words, e.g. [办证, 贷款, 开锁, 疏通, 招聘]"
    )
    regex: str | None = Field(None, description="A Python regular expression searched in the text")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"invalid regular expression {v!r}: {e}") from None
        return v

    @model_validator(mode="after")
    def _something(self) -> TextPattern:
        if not (self.phone or self.keywords or self.regex):
            raise ValueError("give phone: true, keywords or regex (or leave text out to accept any text)")
        return self

    def matches(self, text: str) -> bool:
        return (
            (self.phone and bool(phone_numbers(text)))
            or any(k in text for k in self.keywords)
            or (self.regex is not None and re.search(self.regex, text) is not None)
        )


def check_polygon(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A valid simple polygon in 0-1 coordinates (a closed ring's repeated first point dropped)."""
    if len(pts) > 3 and pts[0] == pts[-1]:
        pts = pts[:-1]
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


class Rule(BaseModel):
    """Which detections count as a category in a zone, and when."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(title="类别", description="Taxonomy category code (类别代码), e.g. '0507'; quote it in YAML")
    labels: list[str] = Field(
        min_length=1,
        title="识别标签",
        description="Model labels that count as this category, e.g. ['static_object'] or ['suitcase', 'backpack']",
    )
    exclude_labels: list[str] = Field(
        default_factory=list,
        title="排除标签",
        description="Drop a detection covered by a detection with one of these labels (any model), "
        "e.g. ['person'] so a person standing still is not a dumped object",
    )
    exclude_overlap: float = Field(
        0.3,
        title="排除覆盖比例",
        gt=0,
        le=1,
        description="Covered fraction (intersection over the candidate's area) that triggers exclude_labels",
    )
    min_score: float = Field(0.25, ge=0, le=1, title="最低置信度", description="Minimum detection score (置信度)")
    min_area: float = Field(
        0.0,
        ge=0,
        le=1,
        title="最小目标面积",
        description="Minimum box area as a fraction of the frame area, set per zone",
    )
    max_area: float = Field(
        1.0, gt=0, le=1, title="最大目标面积", description="Maximum box area as a fraction of the frame area"
    )
    anchor: Literal["bottom_center", "overlap"] = Field(
        "bottom_center",
        title="判定点",
        description="Which part of the box must be in the zone: 'bottom_center' = the midpoint of the box's "
        "bottom edge (where an object stands on the ground); 'overlap' = at least min_overlap of the box "
        "area (for large objects such as garbage piles)",
    )
    min_overlap: float = Field(
        0.5,
        gt=0,
        le=1,
        title="最小重叠比例",
        description="With anchor 'overlap': fraction of the box area inside the zone",
    )
    dwell_s: float | None = Field(
        None,
        ge=0,
        title="持续时间（秒）",
        description="Seconds a violation must last before a clue; empty = the category's default",
    )
    active_hours: list[str] = Field(
        default_factory=list,
        title="生效时段",
        description="Times of day the rule applies, 'HH:MM-HH:MM' (may wrap past midnight, e.g. "
        "'22:00-06:00'); empty = always",
    )

    text: TextPattern | None = Field(
        None,
        title="文字内容",
        description="Text rules only (labels text / phone_number / banner, read by OCR): what the text must "
        "contain; empty = any new text",
    )

    @property
    def is_text_rule(self) -> bool:
        """Reads text: needs the OCR stage."""
        return bool(TEXT_LABELS.intersection(self.labels))

    @field_validator("category", mode="before")
    @classmethod
    def _code_is_text(cls, v: Any) -> Any:
        if isinstance(v, int | float):
            raise ValueError(f'category {v!r} must be a quoted code such as "0507" (YAML reads 0507 as a number)')
        return v

    @field_validator("active_hours")
    @classmethod
    def _hours(cls, v: list[str]) -> list[str]:
        for spec in v:
            parse_hours(spec)
        return v

    @model_validator(mode="after")
    def _area_range(self) -> Rule:
        if self.min_area > self.max_area:
            raise ValueError(f"min_area {self.min_area} is larger than max_area {self.max_area}")
        if self.text is not None and not self.is_text_rule:
            raise ValueError(f"text: needs a text label ({', '.join(sorted(TEXT_LABELS))}) in labels")
        return self

    def dwell(self, taxonomy: Taxonomy) -> float:
        """Dwell seconds: the rule's own, else the category's default."""
        return self.dwell_s if self.dwell_s is not None else taxonomy.get(self.category).dwell_s


class Zone(BaseModel):
    """A polygon on the camera's reference picture and the categories watched inside it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        max_length=64,
        title="区域编号",
        description="Stable slug, unique within the camera (letters, digits, '-', '_'); clues refer to it",
    )
    name: str = Field(title="区域名称", description="Name shown to operators, e.g. 配电箱旁人行道")
    polygon: list[tuple[float, float]] = Field(
        title="多边形",
        description="Vertices [x, y] normalised 0-1 to the reference picture's width and height (>= 3 points)",
    )
    enabled: bool = Field(True, title="启用", description="Disabled zones are kept in the file but not applied")
    rules: list[Rule] = Field(min_length=1, title="规则", description="Categories watched in this zone")

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return check_polygon(pts)

    @model_validator(mode="after")
    def _same_dwell_per_category(self) -> Zone:
        # Confirmation runs per (zone, category), so one category must have one dwell in a zone.
        dwell: dict[str, float | None] = {}
        for r in self.rules:
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
        for r in self.rules:
            if r.category == category:
                return r.dwell(taxonomy)
        raise KeyError(f"zone {self.id!r} has no rule for category {category!r}")


class Mask(BaseModel):
    """An area of the picture that never counts (a shop's own terrace, a tree that sways, a screen)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        max_length=64,
        title="屏蔽区编号",
        description="Stable slug, unique among the camera's zones and masks",
    )
    name: str = Field("", title="屏蔽区名称", description="What is there, e.g. 店铺自有外摆区")
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


def check_zone_set(camera_id: str, zone_set: ZoneSet, taxonomy: Taxonomy) -> None:
    """Check that every rule's category exists in the taxonomy (disabled zones too: they may be re-enabled).

    Raises ConfigError listing every problem as "camera C, zone Z: ...".
    """
    problems = [
        f"camera {camera_id}, zone {z.id}: unknown category {r.category!r} (rules[{i}]; not in taxonomy "
        f"{taxonomy.standard})"
        for z in zone_set.zones
        for i, r in enumerate(z.rules)
        if r.category not in taxonomy
    ]
    if problems:
        raise ConfigError("\n".join(problems))
