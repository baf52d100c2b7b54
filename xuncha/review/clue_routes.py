"""Routes of clues: the review page, the clue list with its filters and facets, one clue, the phone
numbers read on several cameras, and the evidence pictures (stored per clue; dispatch fetches them too).
"""

# No `from __future__ import annotations`: FastAPI must see the routes' Annotated dependencies evaluated.
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import func, select

from xuncha.db.clues import PENDING, Clue
from xuncha.review import gating_store, phones
from xuncha.review.auth import Principal
from xuncha.review.deps import REVIEWERS, Reviewer, db, iso, page, require, state

# Zone ids are unique only within a camera: the zone filter's key is "<camera id>/<zone id>".
FILTERS = {
    "category": Clue.category_code,
    "camera": Clue.camera_id,
    "region": Clue.region_code,
    "zone": Clue.camera_id + "/" + Clue.zone_id,
    "model": Clue.model_name,
}
FILTER_LABELS = {
    "category": Clue.category_name,
    "camera": Clue.camera_name,
    "region": Clue.region_name,
    "zone": Clue.camera_name + " / " + Clue.zone_name,
    "model": Clue.model_name,
}
STATUS_LABELS = {"pending": "待审核", "accepted": "已立案", "rejected": "已驳回"}


def clue_json(c: Clue) -> dict[str, Any]:
    ev = c.evidence or {}
    x1, y1, x2, y2 = c.box
    return {
        "id": c.id,
        "status": c.status,
        "status_label": "已消失" if c.gone and c.status == PENDING else STATUS_LABELS.get(c.status, c.status),
        "gone": c.gone,
        "camera": {"id": c.camera_id, "name": c.camera_name, "preset": c.preset},
        "zone": {"id": c.zone_id, "name": c.zone_name},
        "category": {"code": c.category_code, "name": c.category_name},
        "region": {"code": c.region_code, "name": c.region_name} if c.region_code else None,
        "location": {"lon": c.lon, "lat": c.lat} if c.lon is not None else None,
        "model": c.model_name,
        "label": c.label,
        "score": c.score,
        "box_norm": [x1 / c.frame_w, y1 / c.frame_h, x2 / c.frame_w, y2 / c.frame_h],
        "first_seen": iso(c.first_seen),
        "last_seen": iso(c.last_seen),
        "dwell_s": c.dwell_s,
        "occurrences": c.occurrences,
        "text": c.text,
        "phone_numbers": c.phone_numbers or [],
        "evidence": {
            k: {"url": "/evidence/" + quote(v["path"]), "taken_at": v["taken_at"], "missing": v.get("missing", False)}
            for k, v in ev.items()
        },
    }


def make_router() -> APIRouter:
    router = APIRouter(tags=["clues"])

    @router.get("/")
    def review_page(request: Request, who: Reviewer) -> Response:
        st = state(request)
        categories = [{"code": c.code, "name": c.name} for c in st.taxonomy.categories]
        reasons = [x.model_dump() for x in st.cfg.reject_reasons]
        return page(
            request, "review.html", who, categories=categories, reasons=reasons, undo_window_s=st.cfg.undo_window_s
        )

    @router.get("/api/clues")
    def list_clues(
        request: Request,
        who: Reviewer,
        status: str = PENDING,
        order: str = "oldest",
        category: str | None = None,
        camera: str | None = None,
        region: str | None = None,
        zone: str | None = None,
        model: str | None = None,
        phone: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        if status not in STATUS_LABELS or order not in ("oldest", "newest"):
            raise HTTPException(422, "status 或 order 无效")
        chosen = {"category": category, "camera": camera, "region": region, "zone": zone, "model": model}
        conds = {k: FILTERS[k] == v for k, v in chosen.items() if v}
        with db(request) as s:
            base = [Clue.status == status]
            if phone:
                try:
                    base.append(phones.phone_filter(phone))
                except ValueError as e:
                    raise HTTPException(422, str(e)) from None
            q = select(Clue).where(*base, *conds.values())
            q = q.order_by(Clue.first_seen.asc() if order == "oldest" else Clue.first_seen.desc(), Clue.id)
            clues = list(s.scalars(q.limit(limit)))
            items = [clue_json(c) for c in clues]
            seen = phones.counts(s, (p for item in items for p in item["phone_numbers"]))
            gating = gating_store.for_clues(s, clues, state(request).cfg.gating)
            for item in items:
                item["phone_counts"] = {p: seen.get(p, {"cameras": 0, "clues": 0}) for p in item["phone_numbers"]}
                item["gating"] = gating[item["id"]]
            total = s.scalar(select(func.count()).select_from(Clue).where(*base, *conds.values())) or 0
            facets: dict[str, list[dict[str, Any]]] = {}
            for name, col in FILTERS.items():
                # Counts per value with every other filter applied: what choosing that value would show.
                others = [c for k, c in conds.items() if k != name]
                rows = s.execute(
                    select(col, func.max(FILTER_LABELS[name]), func.count())
                    .where(*base, *others)
                    .group_by(col)
                    .order_by(func.count().desc())
                ).all()
                facets[name] = [
                    {"key": key, "label": label or key or "未知", "count": n} for key, label, n in rows if key
                ]
        return {"items": items, "total": total, "facets": facets}

    @router.get("/api/clues/{clue_id}")
    def get_clue(request: Request, who: Reviewer, clue_id: str) -> dict[str, Any]:
        with db(request) as s:
            clue = s.get(Clue, clue_id)
            if clue is None:
                raise HTTPException(404, "线索不存在")
            out = clue_json(clue)
            out["phone_counts"] = phones.counts(s, out["phone_numbers"])
            out["gating"] = gating_store.for_clues(s, [clue], state(request).cfg.gating)[clue.id]
            return out

    @router.get("/api/phone-numbers")
    def repeated_phone_numbers(
        request: Request,
        who: Reviewer,
        min_cameras: Annotated[int, Query(ge=1)] = 2,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Numbers read on several cameras (one advertiser, many posters)."""
        with db(request) as s:
            return {"items": phones.repeated(s, min_cameras, limit)}

    @router.get("/evidence/{rel:path}")
    def evidence(
        request: Request, who: Annotated[Principal, Depends(require(*REVIEWERS, "dispatch"))], rel: str
    ) -> Response:
        try:
            path = state(request).store.resolve(rel)
        except ValueError:
            raise HTTPException(404, "证据不存在") from None
        if not path.is_file():
            raise HTTPException(404, "证据不存在")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    return router
