"""Precision statistics: 立案率 (accepted / reviewed) by category, camera, zone, region, model and day.

`summarize` counts the decisions that stand (undone ones are not counted) in SQL, grouped by the
dimension's columns, and merges the few groups in Python; `load_reviewed` + `aggregate` is the same
computation over every row, kept as the reference that tests and xuncha bench stats-sql compare it with.
The SVG charts and exports are pure. Categories are counted as the worker reported them: the
figure measures the precision of the clues, whatever the operator filed them as.

>>> from datetime import timezone
>>> rows = [Reviewed(datetime(2024, 5, 1, tzinfo=timezone.utc), True, "0507", "乱堆物堆料", "c1", "路口",
...                  "c1/z", "配电箱", None, None, "m", None)]
>>> aggregate(rows, "category", ZoneInfo("UTC"))[0].rate
1.0
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, cast, extract, func, select
from sqlalchemy.orm import Session

from xuncha.db.clues import Clue, Decision
from xuncha.spreadsheet import safe_cell

DIMENSIONS = {
    "category": "类别",
    "camera": "摄像头",
    "zone": "区域",
    "region": "镇街",
    "model": "模型",
    "day": "日期",
}


@dataclass(frozen=True)
class Reviewed:
    """One standing decision with the clue's attributes."""

    decided_at: datetime
    accepted: bool
    category_code: str
    category_name: str
    camera_id: str
    camera_name: str
    zone_key: str
    zone_name: str
    region_code: str | None
    region_name: str | None
    model: str
    reason_code: str | None


@dataclass
class StatRow:
    key: str
    label: str
    reviewed: int = 0
    accepted: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        return self.reviewed - self.accepted

    @property
    def rate(self) -> float:
        return self.accepted / self.reviewed if self.reviewed else 0.0


def _key(r: Reviewed, by: str, tz: ZoneInfo) -> tuple[str, str]:
    if by == "category":
        return r.category_code, f"{r.category_code} {r.category_name}"
    if by == "camera":
        return r.camera_id, r.camera_name or r.camera_id
    if by == "zone":
        return r.zone_key, f"{r.camera_name} / {r.zone_name}"
    if by == "region":
        return r.region_code or "", r.region_name or "未知镇街"
    if by == "model":
        return r.model, r.model
    if by == "day":
        day = r.decided_at.astimezone(tz).date().isoformat()
        return day, day
    raise ValueError(f"unknown dimension {by!r}; one of {', '.join(DIMENSIONS)}")


def aggregate(rows: list[Reviewed], by: str, tz: ZoneInfo) -> list[StatRow]:
    """Counts and 立案率 per key of `by`; days in date order, the rest by most reviewed first."""
    out: dict[str, StatRow] = {}
    for r in rows:
        key, label = _key(r, by, tz)
        row = out.setdefault(key, StatRow(key, label))
        row.reviewed += 1
        row.accepted += r.accepted
        if r.reason_code:
            row.reasons[r.reason_code] += 1
    if by == "day":
        return sorted(out.values(), key=lambda s: s.key)
    return sorted(out.values(), key=lambda s: (-s.reviewed, s.key))


def load_reviewed(session: Session, since: datetime | None = None) -> list[Reviewed]:
    q = (
        select(Decision, Clue)
        .join(Clue, Clue.id == Decision.clue_id)
        .where(Decision.undone_at.is_(None))
        .order_by(Decision.decided_at)
    )
    if since is not None:
        q = q.where(Decision.decided_at >= since)
    return [
        Reviewed(
            decided_at=d.decided_at,
            accepted=d.accepted,
            category_code=c.category_code,
            category_name=c.category_name,
            camera_id=c.camera_id,
            camera_name=c.camera_name,
            zone_key=f"{c.camera_id}/{c.zone_id}",
            zone_name=c.zone_name,
            region_code=c.region_code,
            region_name=c.region_name,
            model=c.model_name,
            reason_code=d.reason_code,
        )
        for d, c in session.execute(q)
    ]


# Every UTC offset in use is a multiple of 15 minutes: a local day is a whole number of these buckets.
_BUCKET_S = 900


def _bucket(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(extract("epoch", Decision.decided_at) / _BUCKET_S), Integer)
    return cast(func.strftime("%s", Decision.decided_at), Integer) / _BUCKET_S


def _group_columns(session: Session, by: str) -> tuple[Any, ...]:
    if by == "category":
        return Clue.category_code, Clue.category_name
    if by == "camera":
        return Clue.camera_id, Clue.camera_name
    if by == "zone":
        return Clue.camera_id, Clue.zone_id, Clue.camera_name, Clue.zone_name
    if by == "region":
        return Clue.region_code, Clue.region_name
    if by == "model":
        return (Clue.model_name,)
    if by == "day":
        return (_bucket(session),)
    raise ValueError(f"unknown dimension {by!r}; one of {', '.join(DIMENSIONS)}")


def _group_key(by: str, values: tuple[Any, ...], tz: ZoneInfo) -> tuple[str, str]:
    if by == "category":
        return values[0], f"{values[0]} {values[1]}"
    if by == "camera":
        return values[0], values[1] or values[0]
    if by == "zone":
        return f"{values[0]}/{values[1]}", f"{values[2]} / {values[3]}"
    if by == "region":
        return values[0] or "", values[1] or "未知镇街"
    if by == "model":
        return values[0], values[0]
    day = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=int(values[0]) * _BUCKET_S)).astimezone(tz)
    return day.date().isoformat(), day.date().isoformat()


def summarize(session: Session, by: str, tz: ZoneInfo, since: datetime | None = None) -> list[StatRow]:
    """What `aggregate(load_reviewed(session, since), by, tz)` returns, counted by the database: one
    row per group of the dimension's columns, decision and reason. A key's label is that of its
    earliest decision, as in `aggregate` (a camera renamed since keeps the name it was first seen with)."""
    cols = _group_columns(session, by)
    q = (
        select(*cols, Decision.accepted, Decision.reason_code, func.count(), func.min(Decision.decided_at))
        .join(Clue, Clue.id == Decision.clue_id)
        .where(Decision.undone_at.is_(None))
        .group_by(*cols, Decision.accepted, Decision.reason_code)
    )
    if since is not None:
        q = q.where(Decision.decided_at >= since)
    out: dict[str, StatRow] = {}
    first: dict[str, Any] = {}
    for *values, accepted, reason, n, earliest in session.execute(q):
        key, label = _group_key(by, tuple(values), tz)
        row = out.setdefault(key, StatRow(key, label))
        if isinstance(earliest, str):  # SQLite returns min() of a datetime column as text
            earliest = datetime.fromisoformat(earliest)
        if key not in first or earliest < first[key]:
            first[key], row.label = earliest, label
        row.reviewed += n
        row.accepted += n if accepted else 0
        if reason:
            row.reasons[reason] += n
    if by == "day":
        return sorted(out.values(), key=lambda s: s.key)
    return sorted(out.values(), key=lambda s: (-s.reviewed, s.key))


def total_of(stats: list[StatRow]) -> StatRow:
    """The 合计 row of any one dimension's rows (each decision is in exactly one of them)."""
    total = StatRow("all", "合计")
    for s in stats:
        total.reviewed += s.reviewed
        total.accepted += s.accepted
        total.reasons.update(s.reasons)
    return total


def _export_rows(stats: list[StatRow], by: str) -> list[list[object]]:
    """The header and one row per key, every text cell made safe: what both exports write."""
    rows: list[list[object]] = [[DIMENSIONS[by], "名称", "审核数", "立案数", "驳回数", "立案率"]]
    rows += [[s.key, s.label, s.reviewed, s.accepted, s.rejected, s.rate] for s in stats]
    return [[safe_cell(v) for v in row] for row in rows]


def to_csv(stats: list[StatRow], by: str) -> str:
    """CSV with a BOM so that Excel opens the Chinese headers correctly."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for i, row in enumerate(_export_rows(stats, by)):
        w.writerow(row if i == 0 else [*row[:5], f"{row[5]:.4f}"])
    return "\ufeff" + buf.getvalue()


def to_xlsx(stats: list[StatRow], by: str) -> bytes:
    """The same table as to_csv as an Excel workbook, 立案率 formatted as a percentage."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = f"立案率-{DIMENSIONS[by]}"
    for i, row in enumerate(_export_rows(stats, by)):
        ws.append(row)
        if i:
            ws.cell(ws.max_row, 6).number_format = "0.0%"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def bar_chart_svg(stats: list[StatRow], limit: int = 20) -> str:
    """Horizontal bars of 立案率 per key, labelled with accepted/reviewed."""
    rows = stats[:limit]
    bar_h, gap, label_w, bar_w = 22, 6, 220, 360
    height = max(1, len(rows)) * (bar_h + gap) + gap
    parts = [
        f'<svg class="chart" role="img" aria-label="立案率" viewBox="0 0 {label_w + bar_w + 130} {height}"'
        f' width="{label_w + bar_w + 130}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, s in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = round(bar_w * s.rate, 1)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{escape(s.label[:24])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="{bar_h}" fill="#eef1f5"/>'
            f'<rect class="bar" x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="#2f7d4f"/>'
            f'<text x="{label_w + bar_w + 8}" y="{y + 16}">{s.rate:.1%} ({s.accepted}/{s.reviewed})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def trend_svg(days: list[StatRow]) -> str:
    """Daily reviewed counts (columns) and 立案率 (line), oldest day on the left."""
    width, height, pad = 720, 220, 32
    n = max(1, len(days))
    step = (width - 2 * pad) / n
    top = max((d.reviewed for d in days), default=1) or 1
    plot_h = height - 2 * pad
    parts = [
        f'<svg class="chart" role="img" aria-label="每日趋势" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>',
    ]
    points = []
    for i, d in enumerate(days):
        x = pad + i * step
        h = plot_h * d.reviewed / top
        bw = min(step * 0.7, 48)
        cx, cy = x + step / 2, height - pad - plot_h * d.rate
        parts.append(
            f'<rect x="{cx - bw / 2:.1f}" y="{height - pad - h:.1f}" width="{bw:.1f}" height="{h:.1f}"'
            f' fill="#c9d6e8"><title>{d.key}: 审核 {d.reviewed}，立案 {d.accepted}</title></rect>'
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="#c0392b"><title>{d.key}: {d.rate:.1%}</title></circle>'
        )
        points.append(f"{cx:.1f},{cy:.1f}")
        if n <= 16 or i % max(1, n // 8) == 0:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{height - 10}" text-anchor="middle">{d.key[5:]}</text>')
    if points:
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#c0392b" stroke-width="2"/>')
    parts.append(
        f'<text x="{pad}" y="16">柱：审核数（最多 {top}）</text>'
        f'<text x="{width - pad}" y="16" text-anchor="end" fill="#c0392b">线：立案率（0–100%）</text></svg>'
    )
    return "".join(parts)
