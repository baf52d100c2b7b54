"""The reports as Excel workbooks: each table on its own sheet, with a native chart reading its cells."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.worksheet.worksheet import Worksheet

from xuncha.reports.query import Escalated, Hotspots, Ranking, RateRow
from xuncha.spreadsheet import safe_cell

PERCENT = "0.0%"


def _sheet(wb: Workbook, title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Worksheet:
    ws = wb.create_sheet(title)
    ws.append([safe_cell(v) for v in header])
    for r in rows:
        ws.append([safe_cell(v) for v in r])
    for col, name in enumerate(header, start=1):
        if "率" in name:
            for row in range(2, ws.max_row + 1):
                ws.cell(row, col).number_format = PERCENT
        ws.column_dimensions[ws.cell(1, col).column_letter].width = max(10, 2 * len(name) + 4)
    return ws


def _chart(ws: Worksheet, title: str, value_cols: Sequence[int], n: int, anchor: str, y_title: str = "件") -> None:
    """A column chart of `value_cols` over the first column's labels (rows 2..n+1)."""
    if n == 0:
        return
    chart = BarChart()
    chart.type = "col"
    chart.title = title
    chart.y_axis.title = y_title
    for col in value_cols:
        chart.add_data(Reference(ws, min_col=col, min_row=1, max_row=n + 1), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=n + 1))
    chart.width, chart.height = 24, 10
    ws.add_chart(chart, anchor)


def ranking_xlsx(r: Ranking) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    header = [
        "镇街",
        "立案数",
        "上期立案数",
        "较上期",
        "结案数",
        "按期结案数",
        "按期结案率",
        "核查通过",
        "核查未通过",
        "无法核查",
    ]
    rows = [
        [x.name, x.filed, x.filed_before, x.change, x.closed, x.closed_on_time, x.on_time_rate,
         x.recheck_passed, x.recheck_failed, x.recheck_unverifiable]
        for x in [*r.rows, r.total]
    ]  # fmt: skip
    ws = _sheet(wb, "镇街排名", header, rows)
    _chart(ws, f"镇街立案、结案与核查通过（{r.period.label}）", [2, 5, 8], len(r.rows), "L2")
    return _save(wb)


def weekly_xlsx(
    h: Hotspots,
    esc: list[Escalated],
    rates: dict[str, list[RateRow]],
    category_name: Callable[[str], str],
) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    ws = _sheet(
        wb,
        "热点点位",
        ["点位", "镇街", "案件数", "主要类别"],
        [
            [f"{p.camera_name}（{p.zone_name}）", p.region_name, p.cases,
             "、".join(f"{category_name(c)} {n}" for c, n in sorted(p.by_category.items(), key=lambda kv: -kv[1]))]
            for p in h.places
        ],
    )  # fmt: skip
    _chart(ws, f"热点点位（{h.period.label}）", [3], len(h.places), "F2")
    ws = _sheet(wb, "按类别", ["类别", "案件数"], [[category_name(c), n] for c, n in h.by_category])
    _chart(ws, "按类别", [2], len(h.by_category), "D2")
    ws = _sheet(wb, "按时段", ["时段", "案件数"], [[f"{i}时", n] for i, n in enumerate(h.by_hour)])
    _chart(ws, "按时段（时）", [2], 24, "D2")
    _sheet(
        wb,
        "督办",
        ["点位", "镇街", "类别", "案件数", "级别"],
        [
            [f"{e.camera_name}（{e.zone_name}）", e.region_name, category_name(e.category_code), e.cases, e.level]
            for e in esc
        ],
    )
    for by, title in (("category", "立案率-类别"), ("camera", "立案率-摄像头")):
        rows = rates[by]
        first = "类别" if by == "category" else "摄像头"
        ws = _sheet(
            wb,
            title,
            [first, "审核数", "立案数", "立案率", "上期审核数", "上期立案数", "上期立案率"],
            [
                [category_name(r.key) if by == "category" else r.label, r.reviewed, r.accepted, r.rate,
                 r.reviewed_before, r.accepted_before, r.rate_before]
                for r in rows
            ],
        )  # fmt: skip
        _chart(ws, f"{title}：本期与上期", [4, 7], min(len(rows), 30), "I2", y_title="立案率")
    return _save(wb)


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
