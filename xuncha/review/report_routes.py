"""Report pages for leaders (日报, 周报) and their xlsx downloads, for a chosen day or week."""

from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from xuncha.reports import charts, query, xlsx
from xuncha.review.deps import Reviewer, page
from xuncha.review.deps import state as st

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PeriodKind = Literal["day", "week"]


def make_router() -> APIRouter:
    router = APIRouter(tags=["reports"])

    def period(request: Request, day: str | None, kind: PeriodKind, default_back: int) -> query.Period:
        tz = ZoneInfo(st(request).cfg.timezone)
        try:
            d = date.fromisoformat(day) if day else st(request).clock().astimezone(tz).date() - timedelta(default_back)
        except ValueError:
            raise HTTPException(422, f"日期 {day[:20]!r} 无效，格式为 2026-05-01") from None
        return query.Period.day(d, tz) if kind == "day" else query.Period.week(d, tz)

    def category_name(request: Request) -> Callable[[str], str]:
        taxonomy = st(request).taxonomy
        return lambda code: f"{code} {taxonomy.get(code).name}" if code in taxonomy else code

    def ranking(request: Request, day: str | None, kind: PeriodKind) -> query.Ranking:
        with st(request).sessions() as s:
            return query.ranking(s, period(request, day, kind, 1))

    def weekly(request: Request, day: str | None, kind: PeriodKind) -> tuple[Any, ...]:
        p = period(request, day, kind, 7)
        with st(request).sessions() as s:
            counts = query.place_counts(s, p)
            hot = query.hotspots(s, p, counts)
            esc = query.escalations(counts, st(request).cfg.dispatch.escalation)
            rates = {by: query.filing_rates(s, p, by) for by in ("category", "camera")}
        return hot, esc, rates

    @router.get("/reports/daily")
    def daily_page(
        request: Request, who: Reviewer, date: str | None = None, period: Annotated[PeriodKind, Query()] = "day"
    ) -> Response:
        r = ranking(request, date, period)
        chart = charts.bars_svg(
            [(x.name, x.filed, f"立案 {x.filed}（较上期 {x.change:+d}）") for x in r.rows], "各镇街立案数"
        )
        return page(request, "report_daily.html", who, r=r, kind=period, chart=chart)

    @router.get("/reports/daily.xlsx")
    def daily_xlsx(
        request: Request, who: Reviewer, date: str | None = None, period: Annotated[PeriodKind, Query()] = "day"
    ) -> Response:
        r = ranking(request, date, period)
        name = f"ribao-{r.period.first.isoformat()}-{period}.xlsx"
        return Response(
            xlsx.ranking_xlsx(r), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    @router.get("/reports/weekly")
    def weekly_page(
        request: Request, who: Reviewer, date: str | None = None, period: Annotated[PeriodKind, Query()] = "week"
    ) -> Response:
        hot, esc, rates = weekly(request, date, period)
        name = category_name(request)
        pct = lambda v: "—" if v is None else f"{v:.1%}"  # noqa: E731
        return page(
            request,
            "report_weekly.html",
            who,
            h=hot,
            esc=esc,
            rates=rates,
            kind=period,
            catname=name,
            pct=pct,
            places_chart=charts.bars_svg(
                [(f"{p.camera_name}（{p.zone_name}）", p.cases, f"{p.cases} 件") for p in hot.places], "热点点位"
            ),
            category_chart=charts.bars_svg([(name(c), n, f"{n} 件") for c, n in hot.by_category], "按类别", "#7a5195"),
            hour_chart=charts.hours_svg(hot.by_hour, "按时段"),
            rate_chart=charts.bars_svg(
                [(name(r.key), r.rate or 0, f"{pct(r.rate)}（上期 {pct(r.rate_before)}）") for r in rates["category"]],
                "各类别立案率",
                "#2f7d4f",
            ),
        )

    @router.get("/reports/weekly.xlsx")
    def weekly_xlsx(
        request: Request, who: Reviewer, date: str | None = None, period: Annotated[PeriodKind, Query()] = "week"
    ) -> Response:
        hot, esc, rates = weekly(request, date, period)
        name = f"zhoubao-{hot.period.first.isoformat()}-{period}.xlsx"
        return Response(
            xlsx.weekly_xlsx(hot, esc, rates, category_name(request)),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router
