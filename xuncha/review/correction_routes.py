"""Routes of corrections (框选更正 / 分类更正) on the review page, for the roles that decide clues.

GET /api/clues/{clue_id}/correction (the clue's correction, or null), POST (save or replace it:
`box_norm` fractions of the scene picture and/or `category` code), DELETE (remove it).
"""

# No `from __future__ import annotations`: FastAPI must see the routes' Annotated dependencies evaluated.
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from xuncha.db.clues import Clue, Correction
from xuncha.db.users import User
from xuncha.review import corrections
from xuncha.review.deps import Reviewer
from xuncha.review.deps import state as st


class CorrectionBody(BaseModel):
    box_norm: list[float] | None = Field(
        None, min_length=4, max_length=4, description="Corrected box x1, y1, x2, y2 as fractions of the picture"
    )
    category: str | None = Field(None, max_length=16, description="Corrected category code; empty keeps it")


def make_router() -> APIRouter:
    router = APIRouter(tags=["corrections"])

    def clue_or_404(s: Any, clue_id: str) -> Clue:
        clue = s.get(Clue, clue_id)
        if clue is None:
            raise HTTPException(404, "线索不存在")
        return clue

    @router.get("/api/clues/{clue_id}/correction")
    def get_correction(request: Request, who: Reviewer, clue_id: str) -> dict[str, Any]:
        with st(request).sessions() as s:
            clue = clue_or_404(s, clue_id)
            row = s.get(Correction, clue_id)
            if row is None:
                return {"correction": None}
            by = s.get(User, row.user_id).username
            return {"correction": corrections.correction_json(row, clue, by, st(request).taxonomy)}

    @router.post("/api/clues/{clue_id}/correction")
    def save_correction(request: Request, who: Reviewer, clue_id: str, body: CorrectionBody) -> dict[str, Any]:
        state = st(request)
        try:
            with state.sessions.begin() as s:
                clue = clue_or_404(s, clue_id)
                row = corrections.save(s, clue, who.user, state.clock(), body.box_norm, body.category, state.taxonomy)
                out = corrections.correction_json(row, clue, who.user.username, state.taxonomy)
        except corrections.CorrectionError as e:
            raise HTTPException(422, str(e)) from None
        except IntegrityError:  # two first saves of one clue at once: the other one won
            raise HTTPException(409, "此线索刚被他人更正，请刷新后重试") from None
        return {"correction": out}

    @router.delete("/api/clues/{clue_id}/correction")
    def delete_correction(request: Request, who: Reviewer, clue_id: str) -> dict[str, Any]:
        with st(request).sessions.begin() as s:
            clue_or_404(s, clue_id)
            row = s.get(Correction, clue_id)
            if row is not None:
                s.delete(row)
        return {"correction": None, "removed": row is not None}

    return router
