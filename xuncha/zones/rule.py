"""A zone rule: which detections count as a category in a zone, and when (pydantic models)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xuncha.taxonomy import Taxonomy
from xuncha.textpatterns import TEXT_LABELS, phone_numbers
from xuncha.zones.geometry import parse_hours


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
    exclude_max_ratio: float | None = Field(
        None,
        gt=0,
        title="排除框最大倍数",
        description="With exclude_labels: exclude only when the covering box is at most this many times the "
        "candidate's area, so a walker's box over a small bag does not hide the bag while a person standing "
        "still (a blob about their size) is still excluded; empty = any size",
    )
    with_labels: list[str] = Field(
        default_factory=list,
        title="伴随标签",
        description="Count a detection only when a detection with one of these labels is beside it (its box, "
        "grown by with_margin, touches the other's), e.g. a person with goods or a cart for 无照经营游商",
    )
    with_margin: float = Field(
        0.5,
        ge=0,
        le=2,
        title="伴随距离",
        description="With with_labels: how far beside, as a fraction of the box's width and height",
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
