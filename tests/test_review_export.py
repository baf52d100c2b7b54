"""`xuncha review export-dataset` on a real review database: decided clues in, a YOLO folder out."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from review_support import RUN, T0, add_users, make_event, write_evidence
from sqlalchemy import select

from xuncha.clues.contracts import ClueEvent, Evidence, EvidenceImage
from xuncha.clues.evidence import EvidenceStore
from xuncha.db.engine import open_database
from xuncha.db.users import User
from xuncha.review import cli, decisions
from xuncha.review.config import load_review_config
from xuncha.review.intake import ingest
from xuncha.train.prepare import DatasetError, prepare
from xuncha.train.reviews import add_export

REPO = Path(__file__).resolve().parents[1]
CAMERAS = ("cam-a", "cam-b", "cam-c")
DAYS = 4


def _event(i: int, camera: str, day: int, category: str) -> ClueEvent:
    """make_event's clue, on camera `camera`, `day` days after 2024-05-01 (evidence paths follow)."""
    ev = make_event(i, category=category, camera=camera)
    shift = timedelta(days=day)
    seen = ev.first_seen + shift
    folder = f"{seen.date().isoformat()}/{ev.clue_id}"
    pictures = {n: EvidenceImage(path=f"{folder}/{n}.jpg", taken_at=seen) for n in ("scene", "crop", "start")}
    return ev.model_copy(
        update={
            "first_seen": seen,
            "last_seen": ev.last_seen + shift,
            "emitted_at": ev.emitted_at + shift,
            "evidence": Evidence(**pictures),
        }
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xuncha")
    cli.register(p.add_subparsers(dest="command", required=True))
    return p


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A review database with 24 clues over 3 cameras x 4 days: 12 filed, 10 rejected, 1 undone, 1 pending;
    one filed clue's scene picture missing, one stored at half the frame size."""
    tmp = tmp_path_factory.mktemp("export")
    config = tmp / "review.yaml"
    config.write_text(yaml.safe_dump({"data_dir": "data", "cookie_secure": False}), encoding="utf-8")
    cfg, taxonomy = load_review_config(config)
    engine, sessions = open_database(cfg.db_url)
    add_users(sessions)
    cats = ("0507", "0102", "0508")
    events = [
        _event(i, CAMERAS[i % 3], (i // 3) % DAYS, cats[(i // 2) % 3]) for i in range(1, 25)
    ]  # every camera on every day
    for ev in events:
        write_evidence(cfg.evidence_root, ev)
        ingest(sessions, ev)
    expected: dict[str, dict[str, object]] = {}
    reasons = ("misdetection", "fixture", "other")
    with sessions.begin() as s:
        users = {u.username: u for u in s.scalars(select(User))}
        for ev in events:
            i = int(ev.clue_id[-3:])
            when = ev.first_seen + timedelta(hours=1)
            if i == 24:
                continue  # pending: never decided
            who = users["op1" if i % 4 < 2 else "op2"]
            if i % 2 == 0:
                correct = "0102" if i == 4 else None  # 0508 corrected to 0102 when filed
                d = decisions.accept(s, ev.clue_id, who, cfg, taxonomy, when, category_code=correct)
            else:
                reason = reasons[i % 3]
                d = decisions.reject(s, ev.clue_id, who, cfg, when, reason, "路灯杆" if reason == "other" else "")
            if i == 23:
                decisions.undo(s, ev.clue_id, who, cfg, when + timedelta(seconds=5))  # back to pending
                continue
            expected[ev.clue_id] = {
                "accepted": d.accepted,
                "category": d.category_code,
                "reason": d.reason_code,
                "reviewer": who.username,
                "camera": ev.camera.id,
                "day": ev.first_seen.date().isoformat(),
                "decided": when,
            }
    engine.dispose()
    store = EvidenceStore(cfg.evidence_root)
    store.resolve(f"{events[5].first_seen.date()}/clue-006/scene.jpg").unlink()  # filed clue, picture lost
    small = np.full((240, 360, 3), 90, np.uint8)
    store.put("clue-008", "scene", small, day=events[7].first_seen.date())
    return {"config": config, "expected": expected, "tmp": tmp}


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", RUN, "review", "--config", str(config), "export-dataset", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO, check=False)


def _manifest(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def test_export_writes_a_traceable_yolo_folder(reviewed: dict[str, object]) -> None:
    config, expected = reviewed["config"], reviewed["expected"]
    out = Path(reviewed["tmp"]) / "ds"  # type: ignore[arg-type]
    done = _run(config, "--out", str(out), "--val-fraction", "0.5")  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    assert "skipped 1 clue(s)" in done.stdout, done.stdout

    data = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    names = sorted({e["category"] for e in expected.values() if e["accepted"]})  # type: ignore[union-attr]
    assert data["names"] == dict(enumerate(names)) and names == ["0102", "0507", "0508"]
    assert (data["train"], data["val"], Path(data["path"])) == ("images/train", "images/val", out.resolve())

    rows = _manifest(out)
    assert sorted(r["clue_id"] for r in rows) == sorted(expected)  # undone and pending clues left out
    by_place: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        e = expected[r["clue_id"]]  # type: ignore[index]
        assert r["camera_id"] == e["camera"] and r["reviewer"] == e["reviewer"] and r["reason"] == e["reason"]
        assert r["decision"] == ("filed" if e["accepted"] else "rejected") and r["category"] == e["category"]
        assert r["decided_at"] == e["decided"].isoformat()  # type: ignore[attr-defined]
        by_place[r["camera_id"], e["day"]].add(r["split"])  # type: ignore[index]
        if r["clue_id"] == "clue-006":
            assert r["image"] is None and r["skipped"].startswith("evidence file missing: ")  # type: ignore[union-attr]
            assert not list(out.glob("*/*/clue-006.*"))
            continue
        image = out / r["image"]  # type: ignore[operator]
        assert image.parent == out / "images" / r["split"] and cv2.imread(str(image)) is not None
        label = (out / "labels" / r["split"] / f"{r['clue_id']}.txt").read_text(encoding="utf-8")
        px = [36.0, 24.0, 72.0, 72.0] if r["clue_id"] == "clue-008" else [72.0, 48.0, 144.0, 144.0]
        if e["accepted"]:
            cls = names.index(e["category"])  # type: ignore[arg-type]
            assert label == f"{cls} 0.150000 0.200000 0.100000 0.200000\n" and r["class"] == cls
            assert r["box"] == px and r["hard_negative"] is None
        else:
            assert label == "" and r["class"] is None and r["box"] is None and r["hard_negative"] == px
    assert expected["clue-004"]["category"] == "0102"  # the corrected category is the one exported
    assert all(len(s) == 1 for s in by_place.values()), by_place  # one camera-day, one side
    assert set().union(*by_place.values()) == {"train", "val"}
    counts = {s: len(list((out / "images" / s).iterdir())) for s in ("train", "val")}
    assert counts == {s: sum(r["split"] == s and r["image"] is not None for r in rows) for s in counts}
    assert sum(counts.values()) == len(expected) - 1
    assert f"exported {counts['train']} train + {counts['val']} val images" in done.stdout

    # `prepare` reads it as a plain data set too (re-split by photo; `--reviews` below keeps the split).
    prepared = prepare(out, Path(reviewed["tmp"]) / "prepared")  # type: ignore[arg-type]
    assert prepared.names == names and sum(prepared.images.values()) == sum(counts.values())
    assert sum(prepared.objects.values()) == sum(r["class"] is not None and r["image"] is not None for r in rows)

    # `xuncha train --reviews` keeps the export's split: every image lands in its camera-day's side.
    run_data = Path(reviewed["tmp"]) / "run_data"  # type: ignore[arg-type]
    for side in ("train", "val"):
        for sub in ("images", "labels"):
            (run_data / side / sub).mkdir(parents=True)
    added = add_export(out, run_data, ["garbage"], one_class=True)
    assert added["images"] == {s: n for s, n in counts.items() if n}
    kept = [r for r in rows if r["image"] is not None]
    assert added["per_camera"] == dict(sorted(Counter(r["camera_id"] for r in kept).items()))
    for r in kept:
        label = (run_data / r["split"] / "labels" / f"review_{r['clue_id']}.txt").read_text()
        assert (run_data / r["split"] / "images" / f"review_{r['clue_id']}.jpg").is_file()
        assert label == ("0 0.150000 0.200000 0.100000 0.200000\n" if r["class"] is not None else "")
    with pytest.raises(DatasetError, match="review export class '0102' is not a class of the run"):
        add_export(out, run_data, ["garbage"], one_class=False)

    again = Path(reviewed["tmp"]) / "ds2"  # type: ignore[arg-type]
    assert _run(config, "--out", str(again), "--val-fraction", "0.5").returncode == 0  # type: ignore[arg-type]
    assert _manifest(again) == rows  # the same reviews, the same export


def _export(config: Path, out: Path, *args: str) -> tuple[int, list[dict[str, object]]]:
    a = _parser().parse_args(["review", "--config", str(config), "export-dataset", "--out", str(out), *args])
    rc = a.func(a)
    return rc, (_manifest(out) if rc == 0 else [])


def test_filters_select_camera_category_and_decision_day(reviewed: dict[str, object], capsys) -> None:
    config, expected, tmp = Path(reviewed["config"]), reviewed["expected"], Path(reviewed["tmp"])  # type: ignore[arg-type]
    rc, rows = _export(config, tmp / "cam", "--camera", "cam-b")
    assert rc == 0 and {r["camera_id"] for r in rows} == {"cam-b"}
    assert len(rows) == sum(e["camera"] == "cam-b" for e in expected.values())  # type: ignore[union-attr]
    rc, rows = _export(config, tmp / "cat", "--category", "0102")
    assert rc == 0 and {r["category"] for r in rows} == {"0102"} and "clue-004" in {r["clue_id"] for r in rows}
    data = yaml.safe_load((tmp / "cat" / "data.yaml").read_text(encoding="utf-8"))
    assert data["names"] == {0: "0102"}
    rc, rows = _export(config, tmp / "since", "--since", "2024-05-03")
    want = {k for k, e in expected.items() if e["decided"].date().isoformat() >= "2024-05-03"}  # type: ignore[index, union-attr]
    assert rc == 0 and {r["clue_id"] for r in rows} == want and 0 < len(want) < len(expected)


def test_errors_are_one_line(reviewed: dict[str, object], capsys) -> None:
    config, tmp = Path(reviewed["config"]), Path(reviewed["tmp"])  # type: ignore[arg-type]
    capsys.readouterr()
    assert _export(config, tmp / "none", "--camera", "no-such-camera")[0] == 1
    err = capsys.readouterr().err
    assert err.startswith("xuncha review export-dataset: no reviewed clues match (--camera no-such-camera;")
    assert err.count("\n") == 1
    assert not (tmp / "none").exists()
    busy = tmp / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x", encoding="utf-8")
    assert _export(config, busy)[0] == 1
    err = capsys.readouterr().err
    assert f"--out {busy}: exists and is not an empty folder" in err and err.count("\n") == 1
    assert _export(config, tmp / "x", "--category", "9999")[0] == 1
    assert "--category 9999: unknown category code" in capsys.readouterr().err


def test_every_picture_missing_is_a_failure_with_the_manifest_saying_why(reviewed: dict[str, object], capsys) -> None:
    config, tmp = Path(reviewed["config"]), Path(reviewed["tmp"])  # type: ignore[arg-type]
    cfg, _ = load_review_config(config)
    elsewhere = tmp / "no-evidence.yaml"  # the same database, an empty evidence folder
    doc = {"data_dir": "data", "database_url": cfg.db_url, "evidence_dir": "empty", "cookie_secure": False}
    elsewhere.write_text(yaml.safe_dump(doc), encoding="utf-8")
    rc, _ = _export(elsewhere, tmp / "lost", "--camera", "cam-c")
    out = capsys.readouterr().out
    rows = _manifest(tmp / "lost")
    assert rc == 1 and f"skipped {len(rows)} clue(s)" in out and "exported 0 train + 0 val images" in out
    assert rows and all(r["image"] is None and r["skipped"].startswith("evidence file missing") for r in rows)  # type: ignore[union-attr]


def test_the_clean_frame_is_exported_where_the_worker_stored_one(tmp_path: Path) -> None:
    """The scene picture carries the zone, box and label as operators saw them; a model must learn (and
    the shadow replay detect) on the camera's picture, so the export takes the clean frame when there is one."""
    config = tmp_path / "review.yaml"
    config.write_text(yaml.safe_dump({"data_dir": "data", "cookie_secure": False}), encoding="utf-8")
    cfg, taxonomy = load_review_config(config)
    engine, sessions = open_database(cfg.db_url)
    add_users(sessions)
    store = EvidenceStore(cfg.evidence_root)
    with_frame, older = _event(1, "cam-a", 0, "0507"), _event(2, "cam-a", 0, "0507")
    frame = EvidenceImage(path=store.put("clue-001", "frame", np.full((480, 720, 3), 200, np.uint8)), taken_at=T0)
    with_frame = with_frame.model_copy(update={"evidence": with_frame.evidence.model_copy(update={"frame": frame})})
    for ev in (with_frame, older):
        write_evidence(cfg.evidence_root, ev)  # the drawn scene (a dark frame with a red box)
        ingest(sessions, ev)
    with sessions.begin() as s:
        op = s.scalars(select(User).where(User.username == "op1")).one()
        for ev in (with_frame, older):
            decisions.accept(s, ev.clue_id, op, cfg, taxonomy, ev.first_seen + timedelta(hours=1))
    engine.dispose()
    rc, rows = _export(config, tmp_path / "ds")
    assert rc == 0
    evidence = {r["clue_id"]: r["evidence"] for r in rows}
    assert evidence == {"clue-001": frame.path, "clue-002": with_frame.evidence.scene.path.replace("001", "002")}
    pixels = {r["clue_id"]: cv2.imread(str(tmp_path / "ds" / str(r["image"]))).mean() for r in rows}
    assert pixels["clue-001"] == pytest.approx(200, abs=2) and pixels["clue-002"] < 150
