"""Corrections (框选更正 / 分类更正): an operator's corrected box and/or category of a clue, which the
training export labels the clue with instead of what the worker reported.

The page sends the box as fractions of the scene picture (as the clue's `box_norm`); it is stored in
pixels of the clue's frame, as `clues.box`, so the export reads both boxes the same way.

>>> check((0.1, 0.2, 0.5, 0.6), None, {"0507"}, (720, 480))
([72.0, 96.0, 360.0, 288.0], None)
>>> check((0.5, 0.2, 0.1, 0.6), None, {"0507"}, (720, 480))
Traceback (most recent call last):
...
xuncha.review.corrections.CorrectionError: box_norm：框需 x1 < x2、y1 < y2（面积为正）
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from xuncha.db.clues import Clue, Correction
from xuncha.db.users import User
from xuncha.taxonomy import Taxonomy


class CorrectionError(ValueError):
    """A correction refused; `field` names the request field it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}：{message}")
        self.field = field


def check(
    box_norm: Sequence[float] | None,
    category: str | None,
    codes: Container[str],
    frame_size: tuple[int, int],
) -> tuple[list[float] | None, str | None]:
    """The correction to store: the box in frame pixels (or None) and the category code (or None).

    The box must lie inside the picture (0-1) and cover at least one frame pixel each way; the
    category must be one of `codes`; at least one of the two must be given."""
    if box_norm is None and not category:
        raise CorrectionError("box_norm", "请拖出新框或选择更正类别（至少一项）")
    if category and category not in codes:
        raise CorrectionError("category", f"未知类别 {category}")
    if box_norm is None:
        return None, category or None
    if len(box_norm) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in box_norm):
        raise CorrectionError("box_norm", "需要 4 个数 [x1, y1, x2, y2]")
    x1, y1, x2, y2 = (float(v) for v in box_norm)
    if min(x1, y1, x2, y2) < 0 or max(x1, y1, x2, y2) > 1:
        raise CorrectionError("box_norm", "框超出画面（坐标应在 0 到 1 之间）")
    if x2 <= x1 or y2 <= y1:
        raise CorrectionError("box_norm", "框需 x1 < x2、y1 < y2（面积为正）")
    fw, fh = frame_size
    if (x2 - x1) * fw < 1 or (y2 - y1) * fh < 1:
        raise CorrectionError("box_norm", f"框太小（不足画面 {fw}x{fh} 的 1 个像素）")
    return [round(x1 * fw, 2), round(y1 * fh, 2), round(x2 * fw, 2), round(y2 * fh, 2)], category or None


def save(
    session: Session,
    clue: Clue,
    user: User,
    now: datetime,
    box_norm: Sequence[float] | None,
    category: str | None,
    taxonomy: Taxonomy,
) -> Correction:
    """Store (or replace) the clue's correction, in the caller's transaction."""
    codes = {c.code for c in taxonomy.categories}
    box, code = check(box_norm, category, codes, (clue.frame_w, clue.frame_h))
    row = session.get(Correction, clue.id)
    if row is None:
        row = Correction(clue_id=clue.id)
        session.add(row)
    row.box, row.category_code, row.user_id, row.corrected_at = box, code, user.id, now
    session.flush()
    return row


def correction_json(row: Correction, clue: Clue, username: str, taxonomy: Taxonomy) -> dict[str, Any]:
    """The correction as the page shows it: the box as fractions of the picture, like the clue's."""
    w, h = clue.frame_w, clue.frame_h
    code = row.category_code
    return {
        "clue_id": row.clue_id,
        "box_norm": [row.box[0] / w, row.box[1] / h, row.box[2] / w, row.box[3] / h] if row.box else None,
        "category": {"code": code, "name": taxonomy.get(code).name if code in taxonomy else code} if code else None,
        "by": username,
        "at": row.corrected_at.isoformat(),
    }
