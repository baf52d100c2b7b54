"""Clue contracts (round trip, validation, exported schema) and evidence (rendering, JPEG store)."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from xuncha.clues.contracts import (
    CameraRef,
    CategoryRef,
    ClueEvent,
    Evidence,
    EvidenceImage,
    GeoPoint,
    ModelChecksum,
    ModelRef,
    RegionRef,
    ZoneRef,
)
from xuncha.clues.evidence import CJK_FONTS, EvidenceStore, cjk_font, render_crop, render_scene
from xuncha.clues.schemas import SCHEMA_FILE, main, schema_text

CST = timezone(timedelta(hours=8))
T0 = datetime(2024, 5, 1, 8, 0, 12, tzinfo=CST)


def event_data(**over: object) -> dict:
    data: dict = dict(
        kind="opened",
        seq=0,
        clue_id="6f1c2a9e-0c1d-5b7e-9a65-1d2e3f4a5b6c",
        emitted_at=T0 + timedelta(seconds=10.5),
        camera=CameraRef(id="cam-01", name="江南西路口", preset="2", location=GeoPoint(lon=113.27, lat=23.09)),
        zone=ZoneRef(id="box", name="配电箱旁"),
        category=CategoryRef(code="0507", name="乱堆物堆料", liuluan="乱堆放"),
        region=RegionRef(code="440105001", name="江南中街"),
        model=ModelRef(
            name="static_object",
            checksums=[
                ModelChecksum(name="static_object", checksum=None),
                ModelChecksum(name="yolov8n_coco_int8", checksum="md5:547ad577"),
            ],
        ),
        label="static_object",
        score=0.8125,
        box=(101.5, 220.0, 160.25, 300.0),
        frame_size=(720, 480),
        first_seen=T0,
        last_seen=T0 + timedelta(seconds=10),
        dwell_s=10.0,
        occurrences=6,
        evidence=Evidence(
            scene=EvidenceImage(path="2024-05-01/c1/scene.jpg", taken_at=T0 + timedelta(seconds=10)),
            crop=EvidenceImage(path="2024-05-01/c1/crop.jpg", taken_at=T0 + timedelta(seconds=10)),
            start=EvidenceImage(path="2024-05-01/c1/start.jpg", taken_at=T0),
        ),
    )
    data.update(over)
    return data


# ---- contracts


def test_json_round_trip_keeps_every_field() -> None:
    for ev in (
        ClueEvent(**event_data()),
        ClueEvent(**event_data(kind="updated", seq=3, region=None, evidence=None)),
        ClueEvent(**event_data(kind="closed", seq=4, reason="end_of_stream")),
    ):
        back = ClueEvent.model_validate_json(ev.model_dump_json())
        assert back == ev
        assert back.model_dump(mode="json") == ev.model_dump(mode="json")
    # Datetimes travel with their offset, so the instant survives.
    assert json.loads(ev.model_dump_json())["first_seen"] == "2024-05-01T08:00:12+08:00"


def test_event_id_is_derived_and_deterministic() -> None:
    a, b = ClueEvent(**event_data(kind="updated", seq=2)), ClueEvent(**event_data(kind="updated", seq=2))
    assert a.event_id == b.event_id == "6f1c2a9e-0c1d-5b7e-9a65-1d2e3f4a5b6c:2"
    assert ClueEvent(**event_data()).event_id.endswith(":0")
    with pytest.raises(ValidationError, match="event_id must be"):
        ClueEvent(**event_data(event_id="something-else"))


def test_routing_key() -> None:
    assert ClueEvent(**event_data()).routing_key == "clue.opened.0507"
    assert ClueEvent(**event_data(kind="closed", seq=1, reason="gone")).routing_key == "clue.closed.0507"


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"colour": "red"}, "Extra inputs"),
        ({"first_seen": datetime(2024, 5, 1, 8, 0)}, "timezone"),
        ({"kind": "opened", "seq": 2}, "seq 0 is the opened event"),
        ({"kind": "updated", "seq": 0}, "seq 0 is the opened event"),
        ({"kind": "reopened"}, "kind"),
        ({"reason": "gone"}, "only allowed on closed"),
        ({"box": (10, 10, 5, 20)}, "x1 < x2"),
        ({"frame_size": (0, 480)}, "positive"),
        ({"last_seen": T0 - timedelta(seconds=1)}, "before first_seen"),
        ({"score": 1.5}, "less than or equal to 1"),
        ({"clue_id": "../etc"}, "pattern"),
        ({"model": {"name": "x", "checksums": [{"name": "y", "checksum": None}]}}, "missing from checksums"),
        ({"camera": {"id": "c", "name": "n", "location": {"lon": 200, "lat": 0}}}, "less than or equal to 180"),
        ({"schema_version": 2}, "schema_version"),
    ],
)
def test_invalid_events_are_refused(over: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ClueEvent(**event_data(**over))


@pytest.mark.parametrize("bad", ["../x.jpg", "/etc/passwd", "a//b.jpg", "a/./b.jpg", "a\\..\\b.jpg", "", "a/"])
def test_evidence_paths_must_stay_relative(bad: str) -> None:
    with pytest.raises(ValidationError, match="evidence path"):
        EvidenceImage(path=bad, taken_at=T0)


def test_events_are_frozen() -> None:
    ev = ClueEvent(**event_data())
    with pytest.raises(ValidationError, match="frozen"):
        ev.score = 0.1  # type: ignore[misc]


def test_committed_schema_is_up_to_date() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), "run: python -m xuncha.clues"
    assert main(["--check"]) == 0


def test_schema_documents_every_field() -> None:
    schema = json.loads(schema_text())
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["required"]) >= {"event_id", "kind", "seq", "clue_id", "camera", "category", "box"}
    assert schema["additionalProperties"] is False
    for name, model in [("ClueEvent", schema), *schema["$defs"].items()]:
        for field, spec in model["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"


# ---- evidence rendering


def street(h: int = 480, w: int = 720) -> np.ndarray:
    img = np.full((h, w, 3), 90, np.uint8)
    img[: h // 3] = (170, 150, 130)  # a lighter "sky/wall" band so pixels are not all equal
    return img


def test_render_scene_draws_zone_box_and_time_without_touching_input() -> None:
    img = street()
    before = img.copy()
    poly = np.array([[300, 250], [700, 250], [700, 470], [300, 470]], float)
    out = render_scene(img, (400, 300, 500, 400), poly, "0507 static_object 0.81", T0)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(img, before)
    # Inside the zone (away from box and text) the picture is tinted, outside it is untouched.
    assert not np.array_equal(out[440, 600], img[440, 600])
    assert np.array_equal(out[100, 600], img[100, 600])
    assert np.array_equal(out[300, 100], img[300, 100])
    # The box outline is red.
    b, g, r = (int(v) for v in out[350, 400])
    assert r > 200 and g < 60 and b < 60
    # The timestamp is burned into the bottom-left corner.
    assert np.abs(out[440:480, 0:200].astype(int) - img[440:480, 0:200]).sum() > 0


def test_render_scene_accepts_non_ascii_labels_and_edge_boxes() -> None:
    out = render_scene(street(), (0, 0, 50, 40), [(0, 0), (10, 0), (10, 10)], "乱堆物堆料 bag", T0)
    assert out.shape == (480, 720, 3)
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        render_scene(np.zeros((10, 10), np.uint8), (0, 0, 5, 5), [], "", T0)


def test_evidence_label_shows_the_category_name_in_chinese() -> None:
    # CI installs fonts-wqy-microhei; the name must be drawn, not replaced by '?' as Hershey fonts would.
    assert cjk_font() is not None, f"no CJK font in {CJK_FONTS}"
    img, poly = street(), [(0, 0), (10, 0), (10, 10)]
    name = render_scene(img, (300, 200, 360, 260), poly, "暴露垃圾 0.91", T0)
    other = render_scene(img, (300, 200, 360, 260), poly, "垃圾满溢 0.91", T0)
    asked = render_scene(img, (300, 200, 360, 260), poly, "???? 0.91", T0)
    label = (slice(150, 200), slice(295, 420))
    assert np.abs(name[label].astype(int) - other[label]).sum() > 0
    assert np.abs(name[label].astype(int) - asked[label]).sum() > 0


def test_render_crop_pads_keeps_min_size_and_clips() -> None:
    img = street()
    assert render_crop(img, (100, 100, 200, 140), pad=0.25).shape == (64, 150, 3)  # 40 px high -> 64
    assert render_crop(img, (100, 100, 200, 300), pad=0.25).shape == (300, 150, 3)
    assert render_crop(img, (0, 0, 20, 20), pad=0.25, min_size=64).shape == (42, 42, 3)  # clipped corner
    assert render_crop(img, (700, 460, 720, 480), pad=0.5, min_size=0).shape == (30, 30, 3)
    crop = render_crop(img, (100, 100, 200, 140), pad=0)
    assert np.array_equal(crop[:, 0], img[88:152, 100])  # pixels come from the right place
    with pytest.raises(ValueError, match="outside"):
        render_crop(img, (800, 500, 900, 600))


# ---- evidence store


def test_store_writes_readable_jpegs_atomically(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    img = street()
    cv2.circle(img, (360, 240), 60, (0, 200, 255), -1)
    rel = store.put("6f1c2a9e-0c1d", "scene", img, day=date(2024, 5, 1))
    assert rel == "2024-05-01/6f1c2a9e-0c1d/scene.jpg"
    path = store.resolve(rel)
    assert path == (tmp_path / "evidence" / rel).resolve()
    back = cv2.imread(str(path))
    assert back.shape == img.shape
    assert np.abs(back.astype(int) - img).mean() < 3  # quality 85 keeps the picture
    assert os.listdir(path.parent) == ["scene.jpg"]  # no temporary files left behind
    # Writing the same name again replaces the file.
    store.put("6f1c2a9e-0c1d", "scene.jpg", np.zeros_like(img), day=date(2024, 5, 1))
    assert cv2.imread(str(path)).max() < 10
    assert store.put("c2", "crop", img[:10, :10]).startswith(date.today().isoformat() + "/c2/")


@pytest.mark.parametrize(("clue_id", "name"), [("../x", "scene"), ("c1", "../scene"), ("c1", "a/b"), ("", "s")])
def test_store_refuses_unsafe_names(tmp_path: Path, clue_id: str, name: str) -> None:
    with pytest.raises(ValueError, match="must match"):
        EvidenceStore(tmp_path).put(clue_id, name, street())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "rel", ["../secret.txt", "/etc/passwd", "2024-05-01/../../secret.txt", "a/./b.jpg", "..\\secret.txt", "a\x00b"]
)
def test_store_resolve_refuses_traversal(tmp_path: Path, rel: str) -> None:
    (tmp_path / "secret.txt").write_text("no")
    with pytest.raises(ValueError, match="evidence path"):
        EvidenceStore(tmp_path / "evidence").resolve(rel)


def test_store_resolve_refuses_symlinks_out_of_the_store(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    (root / "2024-05-01").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "2024-05-01" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(ValueError, match="escapes the store"):
        EvidenceStore(root).resolve("2024-05-01/link/x.jpg")
