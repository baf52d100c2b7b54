"""`xuncha bench shadow`: would a new model still find the filed clues, and still raise the rejected ones?

The exported evidence (`xuncha review export-dataset`: DIR/manifest.jsonl + the clues' clean frames) is
replayed through two models. Per exported clue, a model *still raises it* when, on the exported
picture, one of its detections becomes a zone candidate of the clue's category at the clue's place:

- the detector is built as the worker builds it (`load_detector` with the worker config's
  `detectors.conf`; the card's measured `threshold` lowers that floor, as in the worker);
- its detections go through the camera's zone set from the worker config (`ZoneMatcher`: labels,
  rule `min_score`, size, exclude/with labels, anchor, masks, exclusive zones, active hours at the clue's
  first sighting, one category per object as `categorize.py` resolves it);
- the candidate's box is at the clue's box (the corrected box where an operator corrected it) by the
  confirmer's own `same_place` test (`ConfirmParams` of that camera: `match_iou`, `match_overlap`).

Not replayed, because one evidence picture cannot show them: the dwell and hit ratio over samples
(a model that sees the object in this picture may still flicker over the dwell, and the reverse), the
stationary model's `static_object` (it needs the background learnt over time) and the text stage, the
fixtures (固定设施) that suppress a place, and cooldowns. Recorded clips are not replayed either (the
export carries pictures only). So the table predicts how the clues a model *sees* would be reviewed;
counts are per clue, and a model's predicted 立案率 is found-filed / (found-filed + raised-rejected).

>>> rows = tabulate([Replayed("cam", "0102", True, {"a": True, "b": False}),
...                  Replayed("cam", "0102", False, {"a": True, "b": False})], ["a", "b"])
>>> [(r.camera_id, r.found, r.raised, r.rate("a"), r.rate("b")) for r in rows]
[('cam', {'a': 1, 'b': 0}, {'a': 1, 'b': 0}, 0.5, None), ('合计', {'a': 1, 'b': 0}, {'a': 1, 'b': 0}, 0.5, None)]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2

from xuncha.categorize import Candidate
from xuncha.config.worker import WorkerConfig
from xuncha.detector.cards import load_detector
from xuncha.detector.onnx import OnnxDetector
from xuncha.review.export import MANIFEST
from xuncha.types import BoxXYXY
from xuncha.zones.match import ZoneMatcher

TOTAL = "合计"


@dataclass(frozen=True)
class Replayed:
    """One exported clue after the replay: whether each model (by name) still raises it."""

    camera_id: str
    category: str
    filed: bool
    raised: dict[str, bool]


@dataclass
class Row:
    """One camera x category (or the totals): reviewed counts and, per model, what it still raises."""

    camera_id: str
    category: str
    filed: int = 0
    rejected: int = 0
    found: dict[str, int] = field(default_factory=dict)  # filed clues the model still raises
    raised: dict[str, int] = field(default_factory=dict)  # rejected clues the model still raises

    def add(self, r: Replayed) -> None:
        self.filed += r.filed
        self.rejected += not r.filed
        for model, hit in r.raised.items():
            counts = self.found if r.filed else self.raised
            counts[model] = counts.get(model, 0) + hit

    def rate(self, model: str | None = None) -> float | None:
        """Predicted 立案率 of `model` (None: the reviewed one); None when it raises nothing here."""
        filed, rejected = (
            (self.filed, self.rejected) if model is None else (self.found.get(model, 0), self.raised.get(model, 0))
        )
        return round(filed / (filed + rejected), 4) if filed + rejected else None


def tabulate(replayed: Iterable[Replayed], models: Sequence[str]) -> list[Row]:
    """Rows per camera x category (sorted), then the totals row (camera `合计`, category "")."""
    rows: dict[tuple[str, str], Row] = {}
    total = Row(TOTAL, "", found=dict.fromkeys(models, 0), raised=dict.fromkeys(models, 0))
    for r in replayed:
        key = (r.camera_id, r.category)
        if key not in rows:
            rows[key] = Row(*key, found=dict.fromkeys(models, 0), raised=dict.fromkeys(models, 0))
        rows[key].add(r)
        total.add(r)
    return [rows[k] for k in sorted(rows)] + [total]


def still_raises(candidates: Iterable[Candidate], category: str, box: BoxXYXY, same_place: Any) -> bool:
    """Is one of the sample's zone candidates of `category` at the clue's place?"""
    return any(c.category == category and same_place(c.detection.box, box) for c in candidates)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def format_table(rows: Sequence[Row], models: Sequence[str]) -> str:
    """The table as text: per model found-filed / raised-rejected / predicted 立案率."""
    head = ["camera", "category", "filed", "rejected", "立案率"]
    for m in models:
        head += [f"{m} found", f"{m} raised", f"{m} 立案率"]
    lines = [head]
    for r in rows:
        line = [r.camera_id, r.category, str(r.filed), str(r.rejected), _pct(r.rate())]
        for m in models:
            line += [f"{r.found[m]}/{r.filed}", f"{r.raised[m]}/{r.rejected}", _pct(r.rate(m))]
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def row_json(r: Row, models: Sequence[str]) -> dict[str, Any]:
    return {
        "camera_id": r.camera_id,
        "category": r.category,
        "filed": r.filed,
        "rejected": r.rejected,
        "rate": r.rate(),
        "models": {m: {"found": r.found[m], "raised": r.raised[m], "rate": r.rate(m)} for m in models},
    }


# -- I/O edge ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelUnderTest:
    role: str  # "model" (the candidate) or "against" (the current one)
    ref: str  # what was given on the command line: a card name or an .onnx / card path
    detector: OnnxDetector


def read_manifest(export: Path) -> list[dict[str, Any]]:
    path = export / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest (make the folder with `xuncha review export-dataset`)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def replay(
    records: Sequence[dict[str, Any]], export: Path, cfg: WorkerConfig, models: Sequence[ModelUnderTest]
) -> tuple[list[Replayed], list[dict[str, str]]]:
    """Each exported clue through each model and the camera's zones; plus the clues not replayed, and why."""
    cameras = {c.id: c for c in cfg.cameras}
    tz = ZoneInfo(cfg.timezone)
    done: list[Replayed] = []
    skipped: list[dict[str, str]] = []
    for rec in records:
        box = rec["box"] if rec["decision"] == "filed" else rec["hard_negative"]
        cam = cameras.get(rec["camera_id"])
        why = rec.get("skipped") or (None if rec.get("image") and box else "no picture or box in the export")
        if why is None and cam is None:
            why = "camera not in the worker config"
        image = cv2.imread(str(export / rec["image"])) if why is None else None
        if why is None and image is None:
            why = f"picture unreadable: {rec['image']}"
        if why is not None or cam is None or image is None:
            skipped.append({"clue_id": rec["clue_id"], "why": str(why)})
            continue
        h, w = image.shape[:2]
        same_place = cfg.confirm_params(cam.sample_interval_s).same_place
        matcher = ZoneMatcher(cam.zones, (w, h), same_place)
        when = datetime.fromisoformat(rec["first_seen"]).astimezone(tz)
        raised = {}
        for m in models:
            candidates = matcher.match(m.detector.detect_one(image), when)
            raised[m.detector.name] = still_raises(candidates, rec["category"], tuple(box), same_place)
        done.append(Replayed(rec["camera_id"], rec["category"], rec["decision"] == "filed", raised))
    return done, skipped


def run_shadow(model: str, against: str, export: Path, cfg: WorkerConfig) -> dict[str, Any]:
    """The shadow report as JSON-ready data (what `--json` writes and the 模型管理 page shows)."""
    threads = cfg.detectors.threads
    under = [
        ModelUnderTest(role, ref, load_detector(ref, threads=threads, conf=cfg.detectors.conf))
        for role, ref in (("model", model), ("against", against))
    ]
    names = [m.detector.name for m in under]
    if names[0] == names[1] and under[0].detector.checksum == under[1].detector.checksum:
        raise ValueError(f"--model and --against are the same model file ({names[0]})")
    if names[0] == names[1]:  # two files of one card name (a retrained garbage model): keep them apart
        names = [f"{names[0]}@new", names[1]]
        under[0].detector.name = names[0]
    records = read_manifest(export)
    replayed, skipped = replay(records, export, cfg, under)
    rows = tabulate(replayed, names)
    return {
        "kind": "xuncha.shadow",
        "export": str(export.resolve()),
        "made_at": datetime.now(ZoneInfo(cfg.timezone)).isoformat(timespec="seconds"),
        "models": {
            m.role: {"name": n, "ref": m.ref, "file": str(m.detector.path), "checksum": m.detector.checksum}
            for m, n in zip(under, names, strict=True)
        },
        "replayed": len(replayed),
        "skipped": skipped,
        "rows": [row_json(r, names) for r in rows],
        "text": format_table(rows, names),
    }
