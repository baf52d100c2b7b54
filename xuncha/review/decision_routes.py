"""Routes of review decisions: an operator accepts a clue (files a case), rejects it with a reason, or
undoes the decision within the undo window. Refusals carry the reason in Chinese (decisions.ReviewError).
"""

# No `from __future__ import annotations`: FastAPI must see the routes' Annotated dependencies evaluated.
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from xuncha.db.clues import Decision
from xuncha.db.users import User
from xuncha.review import decisions
from xuncha.review.auth import Principal
from xuncha.review.deps import Reviewer, state


class AcceptBody(BaseModel):
    category: str | None = Field(None, description="Corrected category code; empty keeps the reported one")


class RejectBody(BaseModel):
    reason: str = Field(max_length=32, description="Reject reason code from the config")
    text: str = Field("", max_length=2000, description="The operator's explanation")


def _decide(request: Request, who: Principal, act: Callable[[Session, User, datetime], Decision]) -> dict:
    st = state(request)
    try:
        with st.sessions.begin() as s:
            d = act(s, who.user, st.clock())
            out = {"decision_id": d.id, "clue_id": d.clue_id, "accepted": d.accepted}
    except decisions.ReviewError as e:
        raise HTTPException(e.status, str(e)) from None
    return out


def make_router() -> APIRouter:
    router = APIRouter(tags=["decisions"])

    @router.post("/api/clues/{clue_id}/accept")
    def accept(request: Request, who: Reviewer, clue_id: str, body: AcceptBody | None = None) -> dict:
        cfg, taxonomy = state(request).cfg, state(request).taxonomy
        cat = body.category if body else None
        return _decide(request, who, lambda s, u, now: decisions.accept(s, clue_id, u, cfg, taxonomy, now, cat))

    @router.post("/api/clues/{clue_id}/reject")
    def reject(request: Request, who: Reviewer, clue_id: str, body: RejectBody) -> dict:
        cfg = state(request).cfg
        return _decide(
            request, who, lambda s, u, now: decisions.reject(s, clue_id, u, cfg, now, body.reason, body.text)
        )

    @router.post("/api/clues/{clue_id}/undo")
    def undo(request: Request, who: Reviewer, clue_id: str) -> dict:
        cfg = state(request).cfg
        return _decide(request, who, lambda s, u, now: decisions.undo(s, clue_id, u, cfg, now))

    return router
