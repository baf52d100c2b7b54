"""The pure core of `xuncha review export-dataset`: split, label math, latest decisions, classes, manifest."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from xuncha.review.export_plan import (
    Reviewed,
    class_names,
    label_text,
    manifest_record,
    pixel_box,
    plan,
    since_start,
    split_of,
    standing,
    yolo_box,
)

TZ = ZoneInfo("Asia/Shanghai")


def _row(i: int, accepted: bool = True, **kw: object) -> Reviewed:
    values: dict[str, object] = {
        "clue_id": f"c{i:03d}",
        "camera_id": "cam-a",
        "category_code": "0507",
        "accepted": accepted,
        "reason_code": None if accepted else "misdetection",
        "reason_text": None,
        "reviewer": "op1",
        "decided_at": datetime(2024, 5, 2, 1, 0, tzinfo=UTC),
        "decision_id": i,
        "first_seen": datetime(2024, 5, 1, 17, 0, tzinfo=UTC),  # 2024-05-02 01:00 in Shanghai
        "box": (72.0, 48.0, 144.0, 144.0),
        "frame_size": (720, 480),
        "picture": f"2024-05-02/c{i:03d}/scene.jpg",
    }
    values.update(kw)
    return Reviewed(**values)  # type: ignore[arg-type]


def test_split_is_a_function_of_camera_and_day_with_the_asked_share() -> None:
    days = [date(2024, 1, 1) + timedelta(days=d) for d in range(200)]
    splits = {(cam, d): split_of(cam, d, 0.2) for cam in ("cam-a", "cam-b", "cam-c") for d in days}
    assert splits == {(cam, d): split_of(cam, d, 0.2) for cam, d in splits}  # deterministic
    share = Counter(splits.values())["val"] / len(splits)
    assert 0.15 < share < 0.25, share
    # A camera's days are spread over both splits, and two cameras on one day are independent.
    assert {splits["cam-a", d] for d in days} == {"train", "val"}
    assert any(splits["cam-a", d] != splits["cam-b", d] for d in days)
    assert {split_of("cam-a", d, 0.0) for d in days} == {"train"}
    assert {split_of("cam-a", d, 1.0) for d in days} == {"val"}


def test_split_uses_the_local_day_of_the_first_sighting() -> None:
    # 17:00 UTC on May 1 is May 2 in Shanghai: the clue goes with the camera's May 2 frames.
    items, _ = plan([_row(1)], TZ, 0.5)
    assert items[0].split == split_of("cam-a", date(2024, 5, 2), 0.5)
    late = [_row(i, first_seen=datetime(2024, 5, 1, 16, 0, tzinfo=UTC) + timedelta(hours=i)) for i in range(8)]
    assert len({it.split for it in plan(late, TZ, 0.5)[0]}) == 1  # one local day, one split


def test_yolo_box_normalises_clips_and_refuses_a_box_outside() -> None:
    assert yolo_box((72, 48, 144, 144), (720, 480)) == (0.15, 0.2, 0.1, 0.2)
    assert yolo_box((-20, 400, 100, 520), (720, 480)) == pytest.approx(
        (100 / 1440, 440 / 480, 100 / 720, 80 / 480), abs=1e-6
    )
    with pytest.raises(ValueError, match="outside the 720x480 frame"):
        yolo_box((800, 10, 900, 50), (720, 480))
    with pytest.raises(ValueError, match="not positive"):
        yolo_box((1, 1, 2, 2), (0, 480))


def test_pixel_box_maps_to_a_picture_of_another_size() -> None:
    norm = yolo_box((72, 48, 144, 144), (720, 480))
    assert pixel_box(norm, (720, 480)) == (72.0, 48.0, 144.0, 144.0)
    assert pixel_box(norm, (1440, 960)) == (144.0, 96.0, 288.0, 288.0)


def test_standing_keeps_the_latest_decision_of_each_clue() -> None:
    rows = [_row(1, decision_id=5, accepted=False), _row(1, decision_id=9), _row(2, decision_id=3)]
    out = standing(rows)
    assert [(r.clue_id, r.decision_id, r.accepted) for r in out] == [("c001", 9, True), ("c002", 3, True)]


def test_classes_are_the_filed_categories_sorted_and_rejected_ones_are_backgrounds() -> None:
    rows = [
        _row(1, category_code="0508"),
        _row(2, category_code="0102"),
        # rejected only: no class (an hour after the filed ones, which are not in its picture then)
        _row(3, accepted=False, category_code="0201", first_seen=datetime(2024, 5, 1, 18, 0, tzinfo=UTC)),
        _row(4, category_code="0508"),
    ]
    assert class_names(rows) == ["0102", "0508"]
    items, names = plan(rows, TZ)
    assert names == ["0102", "0508"]
    assert [it.cls for it in items] == [1, 0, None, 1]
    assert label_text(items[0]) == "1 0.150000 0.200000 0.100000 0.200000\n"
    assert label_text(items[2]) == ""


def test_a_box_outside_its_frame_is_a_problem_not_a_crash() -> None:
    items, _ = plan([_row(1, box=(900.0, 10.0, 950.0, 40.0))], TZ)
    assert items[0].box is None and "outside the 720x480 frame" in (items[0].problem or "")
    assert label_text(items[0]) == ""


def test_a_filed_clue_in_view_is_labelled_in_a_rejected_clues_image_or_the_image_is_skipped() -> None:
    """Unlabelled, the filed bag in a rejected clue's frame would teach that a real bag is background: it is
    labelled when it was in view all through the rejected clue's sightings, and the image skipped when only
    part of them. Other cameras, and times when nothing filed was in view, keep plain background images."""
    t = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    bag = _row(1, first_seen=t, last_seen=t + timedelta(minutes=30))
    shadow = _row(2, accepted=False, box=(150.0, 48.0, 200.0, 144.0), first_seen=t + timedelta(minutes=5))
    later = _row(3, accepted=False, first_seen=t + timedelta(hours=2), last_seen=t + timedelta(hours=3))
    other = _row(4, accepted=False, camera_id="cam-b", first_seen=t + timedelta(minutes=5))
    before = _row(5, accepted=False, first_seen=t - timedelta(minutes=20), last_seen=t + timedelta(minutes=1))
    items = {it.clue.clue_id: it for it in plan([bag, shadow, later, other, before], TZ)[0]}
    assert items["c002"].problem is None and label_text(items["c002"]) == label_text(items["c001"])
    assert manifest_record(items["c002"], TZ, "x.jpg", (720, 480), None)["labelled_from"] == ["c001"]
    assert items["c005"].problem == "filed clue c001 of camera cam-a was in view for part of it: skipped"
    assert [label_text(items[c]) for c in ("c003", "c004")] == ["", ""]
    assert [items[c].problem for c in ("c001", "c003", "c004")] == [None, None, None]


def test_manifest_record_traces_the_decision() -> None:
    items, _ = plan([_row(1), _row(2, accepted=False, reason_code="fixture", reason_text="路灯杆")], TZ)
    filed = manifest_record(items[0], TZ, "images/train/c001.jpg", (360, 240), None)
    assert filed["decision"] == "filed" and filed["class"] == 0 and filed["reviewer"] == "op1"
    assert filed["box"] == (36.0, 24.0, 72.0, 72.0) and filed["hard_negative"] is None
    assert filed["decided_at"] == "2024-05-02T09:00:00+08:00" and filed["evidence"] == "2024-05-02/c001/scene.jpg"
    rejected = manifest_record(items[1], TZ, None, None, "evidence file missing: x")
    assert (
        rejected["decision"] == "rejected" and rejected["reason"] == "fixture" and rejected["reason_text"] == "路灯杆"
    )
    assert (
        rejected["box"] is None
        and rejected["hard_negative"] is None
        and rejected["skipped"] == "evidence file missing: x"
    )
    assert manifest_record(items[1], TZ, "i.jpg", (720, 480), None)["hard_negative"] == (72.0, 48.0, 144.0, 144.0)


def test_since_starts_at_local_midnight() -> None:
    assert since_start(date(2024, 5, 2), TZ) == datetime(2024, 5, 1, 16, 0, tzinfo=UTC)
