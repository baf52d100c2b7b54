"""Routes of cases: dispatch reads a case and reports it handled (with an after picture), operators
overrule a re-check's 未整改 and look at the cases page with each case's handling history.
"""

# No `from __future__ import annotations`: FastAPI must see the routes' Annotated dependencies evaluated.
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from xuncha.clues.dispatch import VERDICT_NAMES
from xuncha.db.cases import Case, CaseReport, Recheck
from xuncha.db.clues import Clue
from xuncha.review import handling
from xuncha.review.auth import Principal
from xuncha.review.deps import Reviewer, db, iso, page, require, state
from xuncha.review.uploads import read_picture


class OverruleBody(BaseModel):
    note: str = Field("", max_length=2000, description="Why the 未整改 is wrong")


def _pic(path: str | None) -> str | None:
    return "/evidence/" + quote(path) if path else None


def case_json(s: Session, case: Case) -> dict[str, Any]:
    """A case with its handling history and re-checks (for dispatch, the API and the cases page)."""
    reports = s.scalars(select(CaseReport).where(CaseReport.case_id == case.id).order_by(CaseReport.seq))
    checks = s.scalars(select(Recheck).where(Recheck.case_id == case.id).order_by(Recheck.requested_at, Recheck.id))
    clue = s.get(Clue, case.clue_id)
    scene = clue.evidence["scene"]["path"] if clue is not None and clue.evidence else None
    return {
        "case": case.payload,
        "case_id": case.id,
        "escalation": case.escalation,
        "deadline": iso(case.deadline),
        "closed_at": iso(case.closed_at),
        "scene": _pic(scene),
        "handled": case.handled,
        "handled_at": iso(case.handled_at),
        "handling_unit": case.handling_unit,
        "handling_note": case.handling_note,
        "after_picture": _pic(case.after_picture),
        "reports": [
            {
                "seq": r.seq,
                "reported_at": iso(r.reported_at),
                "handled": r.handled,
                "unit": r.unit,
                "note": r.note,
                "picture": _pic(r.picture),
                "picture_taken_at": iso(r.picture_taken_at),
                "flags": list(r.flags),
            }
            for r in reports
        ],
        "rechecks": [
            {
                "id": c.id,
                "requested_at": iso(c.requested_at),
                "verdict": c.verdict,
                "verdict_name": VERDICT_NAMES.get(c.verdict or "", "核查中"),
                "reason": c.reason,
                "samples": c.samples,
                "present": c.present,
                "checked_to": iso(c.checked_to),
                "after_picture": _pic(c.after_picture),
                "overruled": c.overruled_at is not None,
                "overrule_note": c.overrule_note,
            }
            for c in checks
        ],
    }


def make_router() -> APIRouter:
    router = APIRouter(tags=["cases"])

    @router.get("/api/cases/{case_id}")
    def get_case(
        request: Request, who: Annotated[Principal, Depends(require("admin", "dispatch"))], case_id: str
    ) -> dict[str, Any]:
        with db(request) as s:
            case = s.get(Case, case_id)
            if case is None:
                raise HTTPException(404, "案件不存在")
            return case_json(s, case)

    @router.post("/api/cases/{case_id}/handled")
    def case_handled(
        request: Request,
        who: Annotated[Principal, Depends(require("dispatch"))],
        case_id: str,
        unit: Annotated[str, Form(min_length=1, max_length=200)],
        handled: Annotated[bool, Form()] = True,
        note: Annotated[str, Form(max_length=2000)] = "",
        taken_at: Annotated[datetime | None, Form(description="When the after picture was taken (ISO 8601)")] = None,
        picture: Annotated[UploadFile | None, File()] = None,
    ) -> dict[str, Any]:
        """Dispatch reports a case handled (or not), with the handling unit and an optional after picture.

        Every report is kept; a handled one makes the camera re-check the place."""
        st = state(request)
        if taken_at is not None and taken_at.tzinfo is None:
            raise HTTPException(422, "taken_at 需要带时区，例如 2024-05-01T10:00:00+08:00")
        data, image = b"", None
        if picture is not None:
            data, image = read_picture(picture)
        with st.sessions.begin() as s:
            case = s.get(Case, case_id)
            if case is None:
                raise HTTPException(404, "案件不存在")
            now = st.clock()
            seq = handling.report_count(s, case_id) + 1
            path = (
                st.store.put(case.clue_id, f"after-{seq}", image, day=now.astimezone(ZoneInfo(st.cfg.timezone)).date())
                if image is not None
                else None
            )
            report = handling.record_report(
                s,
                case,
                handled=handled,
                unit=unit,
                note=note or None,
                picture=path,
                picture_bytes=data or None,
                taken_at=taken_at,
                now=now,
            )
            out = {"case_id": case_id, "report": report.seq, "handled": handled, "after_picture": path}
            out["flags"] = list(report.flags)
        return out

    @router.post("/api/rechecks/{recheck_id}/overrule")
    def overrule_recheck(request: Request, who: Reviewer, recheck_id: str, body: OverruleBody) -> dict[str, Any]:
        st = state(request)
        try:
            with st.sessions.begin() as s:
                row = handling.overrule(s, recheck_id, who.user, body.note.strip(), st.clock())
                return {"recheck_id": row.id, "overruled": True, "case_id": row.case_id}
        except handling.OverruleError as e:
            raise HTTPException(e.status, str(e)) from None

    @router.get("/cases")
    def cases_page(request: Request, who: Reviewer, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
        with db(request) as s:
            rows = list(s.scalars(select(Case).order_by(Case.filed_at.desc()).limit(limit)))
            cases = [case_json(s, c) for c in rows]
        return page(request, "cases.html", who, cases=cases, flag_names=handling.PICTURE_FLAGS)

    return router
