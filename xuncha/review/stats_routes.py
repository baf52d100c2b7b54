"""Routes of the filing-rate statistics (立案率): the stats page with its charts, its csv/xlsx
download and the JSON of the same table, by a dimension (stats.DIMENSIONS) over the last days.
"""

# No `from __future__ import annotations`: FastAPI must see the routes' Annotated dependencies evaluated.
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from xuncha.review import stats
from xuncha.review.deps import Reviewer, db, page, state


def _summary(request: Request, by: str, days: int) -> list[stats.StatRow]:
    st = state(request)
    with db(request) as s:
        return stats.summarize(s, by, ZoneInfo(st.cfg.timezone), since=st.clock() - timedelta(days=days))


def make_router() -> APIRouter:
    router = APIRouter(tags=["stats"])

    @router.get("/stats")
    def stats_page(
        request: Request, who: Reviewer, by: str = "category", days: Annotated[int, Query(ge=1, le=3650)] = 30
    ) -> Response:
        if by not in stats.DIMENSIONS:
            raise HTTPException(422, f"未知统计维度 {by}")
        table, daily = _summary(request, by, days), _summary(request, "day", days)
        reasons = {r.code: r.name for r in state(request).cfg.reject_reasons}
        return page(
            request,
            "stats.html",
            who,
            by=by,
            days=days,
            dimensions=stats.DIMENSIONS,
            table=table,
            total=stats.total_of(table),
            bars=stats.bar_chart_svg(table),
            trend=stats.trend_svg(daily),
            reason_names=reasons,
        )

    @router.get("/stats.{fmt}")
    def stats_export(
        request: Request,
        who: Reviewer,
        fmt: str,
        by: str = "category",
        days: Annotated[int, Query(ge=1, le=3650)] = 30,
    ) -> Response:
        if by not in stats.DIMENSIONS or fmt not in ("csv", "xlsx"):
            raise HTTPException(404 if by in stats.DIMENSIONS else 422, f"未知统计维度 {by} 或格式 {fmt}")
        table = _summary(request, by, days)
        if fmt == "csv":
            body, media = stats.to_csv(table, by).encode("utf-8"), "text/csv; charset=utf-8"
        else:
            body, media = stats.to_xlsx(table, by), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            body, media_type=media, headers={"Content-Disposition": f'attachment; filename="lianlv-{by}-{days}d.{fmt}"'}
        )

    @router.get("/api/stats")
    def stats_api(
        request: Request, who: Reviewer, by: str = "category", days: Annotated[int, Query(ge=1, le=3650)] = 30
    ) -> dict[str, Any]:
        if by not in stats.DIMENSIONS:
            raise HTTPException(422, f"未知统计维度 {by}")
        table = _summary(request, by, days)
        total = stats.total_of(table)
        return {
            "by": by,
            "total": {"reviewed": total.reviewed, "accepted": total.accepted, "rate": total.rate},
            "rows": [
                {
                    "key": r.key,
                    "label": r.label,
                    "reviewed": r.reviewed,
                    "accepted": r.accepted,
                    "rejected": r.rejected,
                    "rate": r.rate,
                    "reasons": dict(r.reasons),
                }
                for r in table
            ],
        }

    return router
