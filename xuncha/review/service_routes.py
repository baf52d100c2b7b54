"""Routes about the service itself: /health (public, for the load balancer), the Prometheus
/metrics, and /api/openapi.json (the description of what dispatch and the workers call, see api_docs).
"""

# No `from __future__ import annotations`: FastAPI must see the routes' Annotated dependencies evaluated.
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select, text

from xuncha.db.clues import PENDING, Clue, Decision
from xuncha.db.users import ROLES, TOKEN_ROLES
from xuncha.review import api_docs, deadletter
from xuncha.review.auth import Principal
from xuncha.review.cases import outbox_depth
from xuncha.review.deps import ReviewState, db, require, state

log = logging.getLogger(__name__)


def _metrics(st: ReviewState) -> bytes:
    class Collector:
        def collect(self):  # type: ignore[no-untyped-def]
            with st.sessions() as s:
                pending = s.scalar(select(func.count()).select_from(Clue).where(Clue.status == PENDING)) or 0
                g = GaugeMetricFamily("xuncha_review_pending_clues", "Clues waiting for review")
                g.add_metric([], pending)
                yield g
                # A gauge: an undo takes a decision back, and a counter must never go down.
                c = GaugeMetricFamily(
                    "xuncha_review_decisions",
                    "Standing review decisions (undone ones excluded)",
                    labels=["outcome", "reason"],
                )
                rows = s.execute(
                    select(Decision.accepted, Decision.reason_code, func.count())
                    .where(Decision.undone_at.is_(None))
                    .group_by(Decision.accepted, Decision.reason_code)
                ).all()
                for accepted, reason, n in rows:
                    c.add_metric(["accepted" if accepted else "rejected", reason or ""], n)
                yield c
                o = GaugeMetricFamily("xuncha_review_outbox_depth", "Cases not yet published to dispatch")
                o.add_metric([], outbox_depth(s))
                yield o
                d = GaugeMetricFamily("xuncha_review_dead_letters", "Clue messages intake could not apply")
                d.add_metric([], deadletter.count(s))
                yield d
            f = CounterMetricFamily("xuncha_review_login_failures", "Logins refused: wrong user name or password")
            f.add_metric([], st.throttle.failed)
            yield f
            t = CounterMetricFamily(
                "xuncha_review_login_throttled", "Logins refused unchecked: too many recent failures (account/address)"
            )
            t.add_metric([], st.throttle.refused)
            yield t

    registry = CollectorRegistry()
    registry.register(Collector())
    return generate_latest(registry)


def make_router() -> APIRouter:
    router = APIRouter(tags=["service"])

    @router.get("/health")
    def health(request: Request) -> JSONResponse:
        try:
            with db(request) as s:
                s.execute(text("SELECT 1"))
                dead = deadletter.count(s)
        except Exception as e:  # noqa: BLE001 - health reports, never raises
            log.warning("health: database: %s", type(e).__name__)
            return JSONResponse({"status": "error", "database": False}, status_code=503)
        # Dead letters need an admin's look, but the service itself is healthy.
        return JSONResponse({"status": "ok", "database": True, "dead_letters": dead})

    @router.get("/metrics")
    def metrics(
        request: Request, who: Annotated[Principal, Depends(require("admin", "dispatch", "worker"))]
    ) -> Response:
        return Response(_metrics(state(request)), media_type="text/plain; version=0.0.4")

    @router.get("/api/openapi.json", include_in_schema=False)
    def openapi_doc(
        request: Request, who: Annotated[Principal, Depends(require(*ROLES, *TOKEN_ROLES))]
    ) -> dict[str, Any]:
        """The OpenAPI description of the dispatch and worker endpoints (see api_docs)."""
        return api_docs.openapi(request.app)

    return router
