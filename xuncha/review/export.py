"""`xuncha review export-dataset`: reviewed clues as a YOLO detection folder (the I/O around export_plan).

DIR/images/{train,val}/<clue_id>.jpg (each clue's clean frame, else its scene picture),
DIR/labels/{train,val}/<clue_id>.txt, DIR/data.yaml and DIR/manifest.jsonl (one line per selected clue,
skipped ones included).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from xuncha.clues.evidence import EvidenceStore
from xuncha.db.clues import ACCEPTED, REJECTED, Clue, Correction, Decision
from xuncha.db.users import User
from xuncha.review.export_plan import (
    VAL_FRACTION,
    Corrected,
    Item,
    Reviewed,
    label_text,
    manifest_record,
    plan,
    since_start,
)

MANIFEST = "manifest.jsonl"


class ExportError(Exception):
    """The export cannot be made; the message is one line for the command's error output."""


@dataclass(frozen=True)
class Filters:
    since: date | None = None
    camera_id: str | None = None
    category_code: str | None = None

    def describe(self) -> str:
        """The filters as the command's options, for messages."""
        opts = (("--since", self.since), ("--camera", self.camera_id), ("--category", self.category_code))
        return " ".join(f"{k} {v}" for k, v in opts if v is not None) or "no filters"


@dataclass(frozen=True)
class Exported:
    """What was written: images per split, filed and background images, skipped clues, class names."""

    images: dict[str, int]
    filed: int
    background: int
    skipped: int
    names: list[str]


def reviewed(session: Session, filters: Filters, tz: ZoneInfo) -> list[Reviewed]:
    """Clues with a standing (not undone) accept or reject decision, matching `filters`, with their
    corrections (the category filter matches the corrected category where there is one)."""
    corrector = aliased(User)
    q = (
        select(Clue, Decision, User.username, Correction, corrector.username)
        .join(Decision, Decision.clue_id == Clue.id)
        .join(User, User.id == Decision.user_id)
        .outerjoin(Correction, Correction.clue_id == Clue.id)
        .outerjoin(corrector, corrector.id == Correction.user_id)
        .where(Decision.undone_at.is_(None), Clue.status.in_((ACCEPTED, REJECTED)))
    )
    if filters.since is not None:
        q = q.where(Decision.decided_at >= since_start(filters.since, tz))
    if filters.camera_id is not None:
        q = q.where(Clue.camera_id == filters.camera_id)
    if filters.category_code is not None:
        q = q.where(func.coalesce(Correction.category_code, Decision.category_code) == filters.category_code)
    return [
        Reviewed(
            clue_id=c.id,
            camera_id=c.camera_id,
            category_code=d.category_code,
            accepted=d.accepted,
            reason_code=d.reason_code,
            reason_text=d.reason_text,
            reviewer=username,
            decided_at=d.decided_at,
            decision_id=d.id,
            first_seen=c.first_seen,
            last_seen=c.last_seen,
            box=tuple(float(v) for v in c.box),  # type: ignore[arg-type]
            frame_size=(c.frame_w, c.frame_h),
            picture=_picture(c.evidence or {}),
            correction=Corrected(
                box=tuple(float(v) for v in k.box) if k.box else None,  # type: ignore[arg-type]
                category_code=k.category_code,
                by=by,
                at=k.corrected_at,
                reported_category=c.category_code,
            )
            if k is not None
            else None,
        )
        for c, d, username, k, by in session.execute(q)
    ]


def _picture(evidence: dict) -> str | None:
    """The clean frame when the worker stored one (workers before it only drew the scene)."""
    return (evidence.get("frame") or evidence.get("scene") or {}).get("path")


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"--out {out}: exists and is not an empty folder (an export never overwrites)")


def _source(store: EvidenceStore, item: Item) -> tuple[Path | None, str | None]:
    """The picture's file (clean frame or scene), or why there is none."""
    if item.problem is not None:
        return None, item.problem
    if item.clue.picture is None:
        return None, "no evidence"
    try:
        path = store.resolve(item.clue.picture)
    except ValueError as e:
        return None, f"evidence path refused: {e}"
    return (path, None) if path.is_file() else (None, f"evidence file missing: {item.clue.picture}")


def write_export(
    rows: list[Reviewed], store: EvidenceStore, out: Path, tz: ZoneInfo, val_fraction: float = VAL_FRACTION
) -> Exported:
    """Write the YOLO folder for `rows`; ExportError when none match or `out` is not empty."""
    if not rows:
        raise ExportError("no reviewed clues match (filed or rejected, not undone, within the filters)")
    _check_out(out)
    items, names = plan(rows, tz, val_fraction)
    for sub in ("images", "labels"):
        for split in ("train", "val"):
            (out / sub / split).mkdir(parents=True, exist_ok=True)
    images = {"train": 0, "val": 0}
    filed = background = skipped = 0
    with (out / MANIFEST).open("w", encoding="utf-8") as manifest:
        for item in items:
            src, why = _source(store, item)
            size = rel = None
            if src is not None:
                try:
                    with Image.open(src) as im:  # reads the header only
                        size = im.size
                except OSError as e:
                    src, why = None, f"evidence file unreadable: {item.clue.picture}: {e}"
            if src is not None:
                rel = f"images/{item.split}/{item.clue.clue_id}.jpg"
                shutil.copyfile(src, out / rel)
                (out / "labels" / item.split / f"{item.clue.clue_id}.txt").write_text(
                    label_text(item), encoding="utf-8"
                )
                images[item.split] += 1
                filed += item.cls is not None
                background += item.cls is None
            else:
                skipped += 1
            record = manifest_record(item, tz, rel, size, why)
            manifest.write(json.dumps(record, ensure_ascii=False) + "\n")
    data = {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(names)),
    }
    (out / "data.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return Exported(images=images, filed=filed, background=background, skipped=skipped, names=names)
