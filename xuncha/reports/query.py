"""The reports' numbers, aggregated in SQL for one period (a local day or week) and the period before.

Definitions (DOMAIN.md): a case is filed when an operator accepted its clue (`cases.filed_at`), closed
(结案) when a re-check found it rectified or an operator overruled a 未整改 (`cases.closed_at`), on
time when closed by its deadline. Re-checks count on the day their verdict arrived; an overruled
未整改 counts as passed. A place is a camera + zone; the 镇街 is the clue's region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, case, cast, extract, func, or_, select
from sqlalchemy.orm import Session

from xuncha.db.cases import Case, Recheck
from xuncha.db.clues import Clue, Decision

UNKNOWN_REGION = "未知镇街"


@dataclass(frozen=True)
class Period:
    """`days` local days from `first` (1 = a day, 7 = a week) in time zone `tz`."""

    first: date
    days: int
    tz: ZoneInfo

    @classmethod
    def day(cls, d: date, tz: ZoneInfo) -> Period:
        return cls(d, 1, tz)

    @classmethod
    def week(cls, d: date, tz: ZoneInfo) -> Period:
        """The Monday-to-Sunday week containing `d`."""
        return cls(d - timedelta(days=d.weekday()), 7, tz)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), self.tz)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.first + timedelta(days=self.days), time(), self.tz)

    @property
    def previous(self) -> Period:
        return Period(self.first - timedelta(days=self.days), self.days, self.tz)

    @property
    def label(self) -> str:
        last = self.first + timedelta(days=self.days - 1)
        return self.first.isoformat() if self.days == 1 else f"{self.first.isoformat()} 至 {last.isoformat()}"


def _in(col: Any, p: Period) -> Any:
    return and_(col >= p.start, col < p.end)


def _n(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


# -- 日报: cases per 镇街 ---------------------------------------------------------------------------


@dataclass
class RegionRow:
    code: str
    name: str
    filed: int = 0
    filed_before: int = 0
    closed: int = 0
    closed_on_time: int = 0
    recheck_passed: int = 0
    recheck_failed: int = 0
    recheck_unverifiable: int = 0

    @property
    def change(self) -> int:
        return self.filed - self.filed_before

    @property
    def on_time_rate(self) -> float | None:
        return self.closed_on_time / self.closed if self.closed else None


@dataclass
class Ranking:
    period: Period
    rows: list[RegionRow]
    total: RegionRow


def ranking(s: Session, p: Period) -> Ranking:
    """Cases per 镇街, most filed first, with the change from the period before."""
    region = func.coalesce(Clue.region_code, "")
    rows: dict[str, RegionRow] = {}

    def row(code: str, name: str | None) -> RegionRow:
        return rows.setdefault(code, RegionRow(code, name or UNKNOWN_REGION))

    prev = p.previous
    filed = s.execute(
        select(region, func.max(Clue.region_name), _n(Case.filed_at >= p.start), _n(Case.filed_at < p.start))
        .select_from(Case)
        .join(Clue, Clue.id == Case.clue_id)
        .where(Case.filed_at >= prev.start, Case.filed_at < p.end)
        .group_by(region)
    )
    for code, name, now, before in filed:
        r = row(code, name)
        r.filed, r.filed_before = int(now), int(before)
    closed = s.execute(
        select(region, func.max(Clue.region_name), func.count(), _n(Case.closed_at <= Case.deadline))
        .select_from(Case)
        .join(Clue, Clue.id == Case.clue_id)
        .where(_in(Case.closed_at, p))
        .group_by(region)
    )
    for code, name, n, on_time in closed:
        r = row(code, name)
        r.closed, r.closed_on_time = int(n), int(on_time)
    passed = or_(Recheck.verdict == "rectified", Recheck.overruled_at.is_not(None))
    failed = and_(Recheck.verdict == "not_rectified", Recheck.overruled_at.is_(None))
    checks = s.execute(
        select(region, func.max(Clue.region_name), _n(passed), _n(failed), _n(Recheck.verdict == "unverifiable"))
        .select_from(Recheck)
        .join(Case, Case.id == Recheck.case_id)
        .join(Clue, Clue.id == Case.clue_id)
        .where(_in(Recheck.result_at, p))
        .group_by(region)
    )
    for code, name, ok, bad, unknown in checks:
        r = row(code, name)
        r.recheck_passed, r.recheck_failed, r.recheck_unverifiable = int(ok), int(bad), int(unknown)
    ordered = sorted(rows.values(), key=lambda r: (-r.filed, -r.filed_before, r.code == "", r.name))
    total = RegionRow("", "合计")
    for r in ordered:
        for k in ("filed", "filed_before", "closed", "closed_on_time", "recheck_passed", "recheck_failed"):
            setattr(total, k, getattr(total, k) + getattr(r, k))
        total.recheck_unverifiable += r.recheck_unverifiable
    return Ranking(p, ordered, total)


# -- 周报: hotspots ---------------------------------------------------------------------------------


@dataclass
class Hotspot:
    camera_id: str
    camera_name: str
    zone_id: str
    zone_name: str
    region_name: str
    cases: int
    by_category: dict[str, int] = field(default_factory=dict)  # category code -> cases
    scene: str | None = None  # evidence path of the latest case's scene (the worst places only)


@dataclass
class Hotspots:
    period: Period
    places: list[Hotspot]
    by_category: list[tuple[str, int]]  # all cases of the period, most first
    by_hour: list[int]  # cases per local hour of day, 0..23


def _hour(s: Session, col: Any, tz: ZoneInfo, at: datetime) -> Any:
    if s.get_bind().dialect.name == "postgresql":
        return cast(extract("hour", func.timezone(tz.key, col)), Integer)
    offset = at.utcoffset() or timedelta()  # SQLite: the zone's offset at the period's start
    return cast(func.strftime("%H", col, f"{offset.total_seconds() / 3600:+.2f} hours"), Integer)


@dataclass(frozen=True)
class PlaceCount:
    """Cases of one category at one place in the period (one group of the period's only scan)."""

    camera_id: str
    zone_id: str
    category_code: str
    camera_name: str
    zone_name: str
    region_name: str
    cases: int


def place_counts(s: Session, p: Period) -> list[PlaceCount]:
    """Cases filed in the period per camera, zone and filed category: hotspots and escalation derive from it."""
    group = (Clue.camera_id, Clue.zone_id, Decision.category_code)
    rows = s.execute(
        select(*group, func.max(Clue.camera_name), func.max(Clue.zone_name), func.max(Clue.region_name), func.count())
        .select_from(Case)
        .join(Clue, Clue.id == Case.clue_id)
        .join(Decision, Decision.id == Case.decision_id)
        .where(_in(Case.filed_at, p))
        .group_by(*group)
    )
    return [PlaceCount(c, z, k, cn or c, zn or z, rn or UNKNOWN_REGION, int(n)) for c, z, k, cn, zn, rn, n in rows]


def hotspots(s: Session, p: Period, counts: list[PlaceCount], top: int = 10, pictures: int = 3) -> Hotspots:
    """Places ranked by cases filed in the period, with their categories and the worst ones' scenes."""
    places: dict[tuple[str, str], Hotspot] = {}
    by_category: dict[str, int] = {}
    for g in counts:  # one row per place and category: a few hundred groups, not the cases
        h = places.setdefault(
            (g.camera_id, g.zone_id), Hotspot(g.camera_id, g.camera_name, g.zone_id, g.zone_name, g.region_name, 0)
        )
        h.cases += g.cases
        h.by_category[g.category_code] = g.cases
        by_category[g.category_code] = by_category.get(g.category_code, 0) + g.cases
    ranked = sorted(places.values(), key=lambda h: (-h.cases, h.camera_id, h.zone_id))[:top]
    for h in ranked[:pictures]:
        ev = s.scalar(
            select(Clue.evidence)
            .join(Case, Case.clue_id == Clue.id)
            .where(Clue.camera_id == h.camera_id, Clue.zone_id == h.zone_id, _in(Case.filed_at, p))
            .order_by(Case.filed_at.desc())
            .limit(1)
        )
        h.scene = ev["scene"]["path"] if ev else None
    hour = _hour(s, Case.filed_at, p.tz, p.start)
    hours = [0] * 24
    for h, n in s.execute(select(hour, func.count()).where(_in(Case.filed_at, p)).group_by(hour)):
        hours[int(h) % 24] = int(n)
    return Hotspots(p, ranked, sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0])), hours)


# -- escalation -------------------------------------------------------------------------------------


@dataclass
class Escalated:
    camera_name: str
    zone_name: str
    region_name: str
    category_code: str
    cases: int
    level: str


def escalations(counts: list[PlaceCount], thresholds: dict[str, int]) -> list[Escalated]:
    """Places with enough cases of one category for 交办 / 督办 / 重点督办, most first (pure)."""
    out = []
    for g in sorted(counts, key=lambda g: (-g.cases, g.camera_id, g.zone_id, g.category_code)):
        reached = [(t, level) for level, t in thresholds.items() if g.cases >= t]
        if reached:
            out.append(Escalated(g.camera_name, g.zone_name, g.region_name, g.category_code, g.cases, max(reached)[1]))
    return out


# -- 立案率 -----------------------------------------------------------------------------------------


@dataclass
class RateRow:
    key: str
    label: str
    reviewed: int
    accepted: int
    reviewed_before: int
    accepted_before: int

    @property
    def rate(self) -> float | None:
        return self.accepted / self.reviewed if self.reviewed else None

    @property
    def rate_before(self) -> float | None:
        return self.accepted_before / self.reviewed_before if self.reviewed_before else None


def filing_rates(s: Session, p: Period, by: str) -> list[RateRow]:
    """立案率 (accepted / reviewed, undone decisions excluded) per category or camera, beside the period before."""
    key, label = {
        "category": (Decision.category_code, Decision.category_code),
        "camera": (Clue.camera_id, Clue.camera_name),
    }[by]
    now = Decision.decided_at >= p.start
    q = (
        select(
            key,
            func.max(label),
            _n(now),
            _n(and_(now, Decision.accepted.is_(True))),
            _n(~now),
            _n(and_(~now, Decision.accepted.is_(True))),
        )
        .select_from(Decision)
        .where(Decision.undone_at.is_(None), Decision.decided_at >= p.previous.start, Decision.decided_at < p.end)
        .group_by(key)
        .order_by(_n(now).desc(), key)
    )
    rows = s.execute(q.join(Clue, Clue.id == Decision.clue_id) if by == "camera" else q)
    return [RateRow(k, lb or k, int(a), int(b), int(c), int(d)) for k, lb, a, b, c, d in rows]
