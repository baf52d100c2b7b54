"""`xuncha bench shadow`: the table's pure core, and a real export replayed through two real models."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from review_support import RUN, add_users, make_event
from sqlalchemy import select

from xuncha.bench.shadow import TOTAL, Replayed, still_raises, tabulate
from xuncha.categorize import Candidate
from xuncha.clues.evidence import JPEG_QUALITY, EvidenceStore
from xuncha.db.engine import open_database
from xuncha.db.users import User
from xuncha.detector.cards import load_detector
from xuncha.review import decisions
from xuncha.review.config import load_review_config
from xuncha.review.intake import ingest
from xuncha.types import Detection, same_place

REPO = Path(__file__).resolve().parents[1]
FOOTAGE = REPO.parent / "shared" / "data" / "footage" / "shopping_street.mp4"
MODELS = ("yolox_nano_coco", "yolov8n_coco_int8")
MIN_SCORE = 0.3  # the person rule's min_score in the worker config below


def test_table_counts_found_filed_and_raised_rejected_per_camera_and_category() -> None:
    r = [
        Replayed("cam-a", "0508", True, {"new": True, "old": True}),
        Replayed("cam-a", "0508", True, {"new": False, "old": True}),
        Replayed("cam-a", "0508", False, {"new": False, "old": True}),
        Replayed("cam-a", "0102", False, {"new": True, "old": False}),
        Replayed("cam-b", "0508", False, {"new": False, "old": False}),
    ]
    rows = {(row.camera_id, row.category): row for row in tabulate(r, ["new", "old"])}
    assert list(rows) == [("cam-a", "0102"), ("cam-a", "0508"), ("cam-b", "0508"), (TOTAL, "")]
    a = rows["cam-a", "0508"]
    assert (a.filed, a.rejected, a.found, a.raised) == (2, 1, {"new": 1, "old": 2}, {"new": 0, "old": 1})
    assert (a.rate(), a.rate("new"), a.rate("old")) == (0.6667, 1.0, 0.6667)
    assert rows["cam-a", "0102"].rate("new") == 0.0 and rows["cam-a", "0102"].rate("old") is None
    assert rows["cam-b", "0508"].rate() == 0.0 and rows["cam-b", "0508"].rate("new") is None
    t = rows[TOTAL, ""]
    assert (t.filed, t.rejected, t.found, t.raised) == (2, 3, {"new": 1, "old": 2}, {"new": 1, "old": 1})
    assert t.rate("old") == 0.6667 and t.rate() == 0.4


def test_still_raises_needs_the_category_and_the_place() -> None:
    bag = Candidate("z", "0102", Detection("garbage", 0.9, (100, 100, 140, 150)))
    assert still_raises([bag], "0102", (102, 98, 141, 152), same_place)
    assert not still_raises([bag], "0507", (102, 98, 141, 152), same_place)  # another category
    assert not still_raises([bag], "0102", (300, 100, 340, 150), same_place)  # another place
    assert still_raises([bag], "0102", (90, 90, 200, 200), same_place)  # the bag inside the clue's box


def _frame() -> np.ndarray:
    """A shopping-street frame as the evidence store keeps it (a JPEG): the boxes are chosen on what is replayed."""
    cap = cv2.VideoCapture(str(FOOTAGE))
    cap.set(cv2.CAP_PROP_POS_MSEC, 2000)
    ok, img = cap.read()
    cap.release()
    assert ok, FOOTAGE
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _people(image: np.ndarray) -> dict[str, list[tuple[float, float, float, float]]]:
    """Each model's person boxes at the rule's min_score (the detector as the worker builds it)."""
    out = {}
    for name in MODELS:
        det = load_detector(name, threads=1, conf=0.25)
        out[name] = [d.box for d in det.detect_one(image) if d.label == "person" and d.score >= MIN_SCORE]
    return out


def _clue_boxes(image: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Person boxes only one model finds, boxes both find, and an empty patch of sky: the models must differ.

    Only people standing apart: people at one place are one object to the zones (categorize.one_per_object),
    which this test's by-hand count below does not model."""
    people = _people(image)

    def apart(x: tuple[float, float, float, float]) -> bool:
        return all(sum(same_place(x, y) for y in boxes) <= 1 for boxes in people.values())

    a, b = [x for x in people[MODELS[0]] if apart(x)], [y for y in people[MODELS[1]] if apart(y)]
    only_a = [x for x in a if not any(same_place(x, y) for y in b)]
    only_b = [y for y in b if not any(same_place(y, x) for x in a)]
    both = [x for x in a if any(same_place(x, y) for y in b)]
    assert len(only_a) >= 1 and len(only_b) >= 2 and len(both) >= 4, (len(only_a), len(only_b), len(both))
    return only_a[:1] + only_b[:2] + both[:4] + [(5.0, 5.0, 40.0, 30.0)]


def _worker_config(tmp: Path) -> Path:
    zone = {"id": "street", "name": "街面", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}
    rules = [
        {"category": "0508", "labels": ["person"], "min_score": MIN_SCORE},
        {"category": "0102", "labels": ["garbage"], "min_score": 0.18},
    ]
    cams = [{"id": c, "source": str(FOOTAGE), "zones": [{**zone, "rules": rules}]} for c in ("cam-a", "cam-b")]
    path = tmp / "worker.yaml"
    cfg = {"data_dir": str(tmp / "w"), "detectors": {"models": list(MODELS)}, "cameras": cams}
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A review database whose clues' scene pictures are a real street frame, decided and exported."""
    tmp = tmp_path_factory.mktemp("shadow")
    config = tmp / "review.yaml"
    config.write_text(yaml.safe_dump({"data_dir": "data", "cookie_secure": False}), encoding="utf-8")
    cfg, taxonomy = load_review_config(config)
    engine, sessions = open_database(cfg.db_url)
    add_users(sessions)
    frame = _frame()
    h, w = frame.shape[:2]
    boxes = _clue_boxes(frame)
    plan = [(box, "0508", f"cam-{'ab'[i % 2]}") for i, box in enumerate(boxes)]
    plan += [(boxes[4], "0102", "cam-a"), (boxes[5], "0508", "cam-c")]  # category no model gives; unknown camera
    store = EvidenceStore(cfg.evidence_root)
    events = []
    for i, (box, category, camera) in enumerate(plan, start=1):
        ev = make_event(i, category=category, camera=camera).model_copy(update={"box": box, "frame_size": (w, h)})
        store.put(ev.clue_id, "scene", frame, day=ev.first_seen.date())
        ingest(sessions, ev)
        events.append(ev)
    with sessions.begin() as s:
        op = s.scalars(select(User).where(User.username == "op1")).one()
        for i, ev in enumerate(events):
            when = ev.first_seen + timedelta(hours=1)
            if i % 3 != 2:
                decisions.accept(s, ev.clue_id, op, cfg, taxonomy, when)
            else:
                decisions.reject(s, ev.clue_id, op, cfg, when, "misdetection")
    engine.dispose()
    out = tmp / "ds"
    cmd = [sys.executable, "-c", RUN, "review", "--config", str(config), "export-dataset", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    return {"out": out, "tmp": tmp, "worker": _worker_config(tmp)}


def _expected(out: Path) -> dict[tuple[str, str], dict[str, object]]:
    """What each model detects on each exported picture, counted per camera x category by hand."""
    rows: dict[tuple[str, str], dict[str, object]] = {}
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    for rec in manifest:
        if rec["camera_id"] == "cam-c":
            continue
        filed = rec["decision"] == "filed"
        box = rec["box"] if filed else rec["hard_negative"]
        people = _people(cv2.imread(str(out / rec["image"])))
        row = rows.setdefault(
            (rec["camera_id"], rec["category"]),
            {"filed": 0, "rejected": 0, "models": {m: {"found": 0, "raised": 0} for m in MODELS}},
        )
        row["filed" if filed else "rejected"] += 1  # type: ignore[operator]
        for m in MODELS:
            hit = rec["category"] == "0508" and any(same_place(p, box) for p in people[m])
            row["models"][m]["found" if filed else "raised"] += hit  # type: ignore[index]
    return rows


def test_shadow_replays_the_export_through_both_models(export: dict[str, object]) -> None:
    out, tmp = Path(export["out"]), Path(export["tmp"])  # type: ignore[arg-type]
    report_path = tmp / "shadow.json"
    cmd = [sys.executable, "-m", "xuncha.cli", "bench", "shadow", "--model", MODELS[0], "--against", MODELS[1]]
    cmd += ["--export", str(out), "--config", str(export["worker"]), "--json", str(report_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert "9 clue(s) replayed, 1 not replayed" in done.stdout, done.stdout
    assert "camera not in the worker config" in done.stdout

    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["models"]["model"]["name"] == MODELS[0] and report["models"]["against"]["name"] == MODELS[1]
    got = {(r["camera_id"], r["category"]): r for r in report["rows"]}
    expected = _expected(out)
    assert set(got) == set(expected) | {(TOTAL, "")}
    for key, e in expected.items():
        g = got[key]
        assert (g["filed"], g["rejected"]) == (e["filed"], e["rejected"]), key
        for m in MODELS:
            assert {k: g["models"][m][k] for k in ("found", "raised")} == e["models"][m], (key, m)  # type: ignore[index]
    assert got["cam-a", "0102"]["models"][MODELS[0]]["found"] == 0  # no garbage model: 0102 is never raised
    total = got[TOTAL, ""]["models"]
    assert total[MODELS[0]] != total[MODELS[1]]  # the clue boxes were chosen where the models differ
    f, r = (sum(e["models"][MODELS[0]][k] for e in expected.values()) for k in ("found", "raised"))  # type: ignore[index]
    assert total[MODELS[0]]["rate"] == round(f / (f + r), 4)
    assert report["text"].splitlines()[0].startswith("camera") and report["text"] in done.stdout
