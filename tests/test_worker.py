"""The worker end to end on real footage: real models, real files, the embedded broker."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import shared_file

from xuncha.clues.broker import consume, embedded_broker_url
from xuncha.clues.contracts import ClueEvent
from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.taxonomy import DEFAULT_TAXONOMY
from xuncha.types import Detection, iou
from xuncha.worker import RunSummary, Worker

START = datetime(2026, 5, 1, 9, 0, 0, tzinfo=UTC)  # wall time of every file's first frame
# The bag in sidewalk_bag_left.avi, checked by eye at 20 s and 35 s. The man sets it down at ~12 s but keeps a
# hand on it until ~15.5 s and stands beside it until ~19.5 s: it is "left" from about 15.5 s.
BAG_BOX = (450.0, 364.0, 503.0, 416.0)
FLOOR = [(0.0, 0.55), (1.0, 0.55), (1.0, 1.0), (0.0, 1.0)]


def rule(category: str, labels: list[str], **kw: object) -> dict:
    return {"category": category, "labels": labels, **kw}


def camera(cam_id: str, source: Path | str, polygon: list, rules: list[dict], interval: float = 1.0) -> dict:
    return {
        "id": cam_id,
        "name": cam_id,
        "source": str(source),
        "sample_interval_s": interval,
        "start_time": START.isoformat(),
        "zones": [{"id": "z", "name": "区域", "polygon": polygon, "rules": rules}],
    }


def run(tmp_path: Path, cameras: list[dict], models: list[str] | None = None, **extra: object) -> RunSummary:
    cfg = WorkerConfig.model_validate(
        {"data_dir": str(tmp_path), "detectors": {"models": models or ["yolox_nano_coco"]}, "cameras": cameras, **extra}
    )
    cfg, taxonomy = resolve_config(cfg, tmp_path, "test")
    return Worker(cfg, taxonomy).run(once=True)


def opened(summary: RunSummary, cam_id: str) -> list[ClueEvent]:
    return [e for e in summary.events if e.kind == "opened" and e.camera.id == cam_id]


# The left bag's rule and the zone beside the utility box (also used by the view-check tests).
NO_DUMPING = rule(
    "0507",
    ["static_object", "suitcase", "backpack", "handbag"],
    exclude_labels=["person"],
    min_area=0.002,
    max_area=0.2,
    anchor="overlap",
    dwell_s=10,
)
BOX_ZONE = [(0.55, 0.58), (1.0, 0.58), (1.0, 1.0), (0.55, 1.0)]


def offset(t: datetime) -> float:
    return (t - START).total_seconds()


def test_bag_left_by_utility_box_gives_exactly_one_clue_at_the_bag(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    video = shared_file("footage/sidewalk_bag_left.avi")
    cam = camera("sidewalk", video, BOX_ZONE, [NO_DUMPING]) | {"location": {"lon": 113.26, "lat": 23.13}}
    summary = run(tmp_path, [cam], regions=str(DEFAULT_TAXONOMY.with_name("regions_example.geojson")))

    clues = opened(summary, "sidewalk")
    assert len(clues) == 1, [(e.label, e.box, offset(e.first_seen)) for e in clues]
    clue = clues[0]
    assert iou(clue.box, BAG_BOX) > 0.5, clue.box
    # The dwell starts when the stationary model first sees the bag on its own: a few seconds after release.
    assert 12.0 <= offset(clue.first_seen) <= 21.0, offset(clue.first_seen)
    assert clue.dwell_s >= 10
    assert clue.category.code == "0507" and clue.category.name == "乱堆物堆料"
    assert clue.frame_size == (720, 480)
    assert clue.region is not None and clue.region.name == "示例一街道"  # looked up from the camera's location
    assert clue.evidence is not None
    for img in (clue.evidence.scene, clue.evidence.crop, clue.evidence.start):
        assert (tmp_path / "evidence" / img.path).stat().st_size > 1000
    assert clue.evidence.start.taken_at < clue.evidence.scene.taken_at

    # The clue went through the embedded broker with every field intact.
    received: list[ClueEvent] = []
    consume(embedded_broker_url(tmp_path / "broker.sqlite"), received.append, timeout=2)
    assert [e.event_id for e in received] == [e.event_id for e in summary.events]
    assert received[0] == summary.events[0]


def test_people_standing_still_are_not_left_objects_unless_the_rule_says_person(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    video = shared_file("footage/indoor_people_standing.mp4")
    static = {"min_area": 0.002, "max_area": 0.5, "dwell_s": 10}
    summary = run(
        tmp_path,
        [
            camera(
                "excludes-person",
                video,
                FLOOR,
                [rule("0507", ["static_object"], exclude_labels=["person"], **static)],
                2.0,
            ),
            camera("no-exclusion", video, FLOOR, [rule("0507", ["static_object"], **static)], 2.0),
            camera("person-rule", video, FLOOR, [rule("0508", ["person"], min_score=0.4, dwell_s=6)], 2.0),
        ],
    )
    assert summary.failed_cameras == {}
    assert opened(summary, "excludes-person") == []
    # Same zone and frames: the static blobs are really there, the exclusion is what removes them ...
    assert len(opened(summary, "no-exclusion")) >= 1
    # ... and a rule that asks for people finds the ones who stand, where they stand (on the floor).
    person_clues = opened(summary, "person-rule")
    assert len(person_clues) >= 1
    for e in person_clues:
        assert e.label == "person"
        assert e.box[3] > 0.55 * 432


def test_walking_crowd_makes_no_stall_clue(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    video = shared_file("footage/shopping_street.mp4")
    whole = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    stall_labels = ["static_object", "umbrella", "dining table", "chair"]
    summary = run(
        tmp_path,
        [
            # Dwell far shorter than a real 占道经营 rule (3-5 min) so that walkers could trip it.
            camera("stall", video, whole, [rule("0508", stall_labels, exclude_labels=["person"], dwell_s=2)], 0.5),
            camera("anyone", video, whole, [rule("0508", ["person"], dwell_s=0)], 0.5),
        ],
    )
    assert opened(summary, "stall") == []
    assert len(opened(summary, "anyone")) >= 10  # the same frames are full of people


def test_a_broken_camera_is_reported_and_the_others_go_on(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    video = shared_file("footage/shopping_street.mp4")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    whole = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    people = [rule("0508", ["person"], dwell_s=0)]
    summary = run(
        tmp_path,
        [
            camera("missing", tmp_path / "nope.mp4", whole, people),
            camera("corrupt", corrupt, whole, people),
            camera("good", video, whole, people),
        ],
    )
    assert set(summary.failed_cameras) == {"missing", "corrupt"}
    assert "nope.mp4" in summary.failed_cameras["missing"]
    assert "corrupt.mp4" in summary.failed_cameras["corrupt"]
    assert len(opened(summary, "good")) >= 10


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            {
                "zones": [
                    {
                        "id": "z",
                        "name": "n",
                        "polygon": [(0, 0), (1, 1), (1, 0), (0, 1)],
                        "rules": [rule("0507", ["x"])],
                    }
                ]
            },
            "self-intersecting",
        ),
        (
            {"zones": [{"id": "z", "name": "n", "polygon": [(0, 0), (1, 0), (1, 1)], "rules": [rule("9999", ["x"])]}]},
            "camera cam-x, zone z: unknown category '9999'",
        ),
    ],
)
def test_config_errors_name_the_camera_and_zone(tmp_path: Path, bad: dict, message: str) -> None:
    import yaml

    from xuncha.config.worker import load_worker_config
    from xuncha.yamlfile import ConfigError

    cam = {"id": "cam-x", "source": "x.mp4", **bad}
    path = tmp_path / "worker.yaml"
    path.write_text(yaml.safe_dump({"cameras": [cam]}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_worker_config(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)
    assert "cam-x" in str(err.value)


def test_a_camera_whose_samples_fail_does_not_stop_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    video = shared_file("footage/shopping_street.mp4")
    whole = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    people = [rule("0508", ["person"], dwell_s=0), rule("0507", ["static_object"])]
    cfg = WorkerConfig.model_validate(
        {
            "data_dir": str(tmp_path),
            "detectors": {"models": ["yolox_nano_coco"]},
            "cameras": [camera("bad", video, whole, people), camera("good", video, whole, people)],
        }
    )
    cfg, taxonomy = resolve_config(cfg, tmp_path, "test")
    make_camera = Worker.camera

    def camera_with_failing_model(self: Worker, cam_cfg):  # noqa: ANN001, ANN202
        state = make_camera(self, cam_cfg)
        if cam_cfg.id == "bad":  # e.g. the disk under its evidence is full: every sample of it fails

            def fail(*_: object) -> list:
                raise OSError(28, "No space left on device")

            state.pipeline.stationary.update = fail
        return state

    monkeypatch.setattr(Worker, "camera", camera_with_failing_model)
    worker = Worker(cfg, taxonomy)
    summary = worker.run(once=True)
    assert not opened(summary, "bad")
    assert len(opened(summary, "good")) >= 10
    failed = worker.metrics.sample_errors.labels("bad")._value.get()
    assert failed == worker.metrics.samples.labels("bad")._value.get() >= 4
    assert worker.metrics.sample_errors.labels("good")._value.get() == 0


def test_open_clues_wait_through_a_database_outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    from xuncha.confirm import Sighting, Violation
    from xuncha.types import Detection

    cfg = WorkerConfig.model_validate(
        {
            "data_dir": str(tmp_path),
            "leases_url": f"sqlite:///{tmp_path / 'leases.sqlite'}",
            "detectors": {"models": [], "stationary": False},
            "cameras": [camera("cam", tmp_path / "never-opened.mp4", FLOOR, [rule("0507", ["static_object"])])],
        }
    )
    cfg, taxonomy = resolve_config(cfg, tmp_path, "test")
    worker = Worker(cfg, taxonomy)
    assert worker.leases is not None
    seen = Sighting(100.0, Detection("static_object", 0.9, (1.0, 2.0, 3.0, 4.0), "stationary"))
    v = Violation("clue-1", "cam", "z", "0507", (1.0, 2.0, 3.0, 4.0), seen, seen, seen, 3)
    save = worker.leases.save_open

    def down(*_: object) -> None:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(worker.leases, "save_open", down)
    worker.publisher.unsaved_open[v.id] = (v, 2)
    worker.publisher.save_open_clues()  # the database is down: nothing raised, the record waits
    assert list(worker.publisher.unsaved_open) == ["clue-1"] and worker.leases.load_open("cam") == []
    monkeypatch.setattr(worker.leases, "save_open", save)
    worker.publisher.save_open_clues()  # back: written, and the next owner would continue the clue
    assert worker.publisher.unsaved_open == {}
    [(loaded, next_seq)] = worker.leases.load_open("cam")
    assert (loaded.id, loaded.occurrences, next_seq) == ("clue-1", 3, 2)


def test_config_watcher_rides_out_a_file_being_replaced(tmp_path: Path) -> None:
    import os

    import yaml

    from xuncha.worker.command import _config_watcher

    path = tmp_path / "worker.yaml"
    doc = {"data_dir": str(tmp_path), "cameras": [camera("a", tmp_path / "a.mp4", FLOOR, [rule("0507", ["x"])])]}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    reload = _config_watcher(path, {"x"}, path.stat().st_mtime_ns)
    assert reload() is None  # unchanged
    path.unlink()  # an editor or a deploy replaces the file: for a moment it is not there
    assert reload() is None
    doc["cameras"].append(camera("b", tmp_path / "b.mp4", FLOOR, [rule("0507", ["x"])]))
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))  # a new mtime even on a coarse-clock file system
    changed = reload()
    assert changed is not None and [c.id for c in changed[0].cameras] == ["a", "b"]


def test_broker_outage_costs_the_loop_one_failed_publish_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xuncha.clues.broker import CluePublisher, collect_events

    shared_file("models/yolox_nano_coco.onnx")
    video = shared_file("footage/shopping_street.mp4")
    whole = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    url = f"sqla+sqlite:///{tmp_path / 'missing' / 'broker.sqlite'}"  # its folder is not there: broker down
    attempts: list[str] = []
    publish = CluePublisher.publish

    def counted(self: CluePublisher, event: ClueEvent) -> None:
        attempts.append(threading.current_thread().name)
        publish(self, event)

    monkeypatch.setattr(CluePublisher, "publish", counted)
    summary = run(tmp_path, [camera("cam", video, whole, [rule("0508", ["person"], dwell_s=0)])], broker_url=url)
    events = summary.events
    assert len(events) >= 10 and summary.spooled == len(events)
    # The sampling loop tried the broker once; the rest waited in the spool for the drain thread.
    assert attempts.count("MainThread") == 1, attempts
    (tmp_path / "missing").mkdir()  # the broker is back: the next run's drain thread sends the backlog
    run(tmp_path, [camera("cam", tmp_path / "nothing.mp4", whole, [rule("0508", ["person"])])], broker_url=url)
    got = collect_events(url, limit=len(events) + 1, timeout=1.0)
    assert [e.event_id for e in got] == [e.event_id for e in events]


def test_a_model_runs_only_for_cameras_whose_zones_use_its_labels(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    video = shared_file("footage/shopping_street.mp4")
    whole = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    cfg = WorkerConfig.model_validate(
        {
            "data_dir": str(tmp_path),
            "detectors": {"models": ["yolox_nano_coco"]},
            "cameras": [
                camera("stalls", video, whole, [rule("0508", ["person"], dwell_s=0)]),
                camera("piles", video, whole, [rule("0507", ["static_object"])]),
            ],
        }
    )
    cfg, taxonomy = resolve_config(cfg, tmp_path, "test")
    worker = Worker(cfg, taxonomy)
    (det,) = worker.detectors
    seen: list[int] = []
    detect = det.detect
    det.detect = lambda images: seen.append(len(images)) or detect(images)  # type: ignore[method-assign]
    summary = worker.run(once=True)
    # COCO runs on the 5 samples of the camera that looks for people, never on the static-object-only one.
    assert sum(seen) == 5 and summary.samples == 10 and opened(summary, "stalls")


def test_the_configs_same_place_settings_reach_the_zone_matcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`confirm: {match_iou, match_overlap}` decide what one object is in the matcher's grouping too,
    not only in the confirmer (the matcher used the defaults whatever the config said)."""
    import xuncha.pipeline.camera as pipeline_module
    from xuncha.zones.match import ZoneMatcher

    shared_file("models/yolox_nano_coco.onnx")
    video = shared_file("footage/shopping_street.mp4")
    whole = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    built: list[ZoneMatcher] = []

    def recording(*args: object, **kw: object) -> ZoneMatcher:
        built.append(ZoneMatcher(*args, **kw))  # type: ignore[arg-type]
        return built[-1]

    monkeypatch.setattr(pipeline_module, "ZoneMatcher", recording)
    cams = [camera("street", video, whole, [rule("0508", ["person"], dwell_s=0)])]
    run(tmp_path, cams, confirm={"match_iou": 0.9, "match_overlap": 0.95})
    outer, inner = (100.0, 100.0, 200.0, 300.0), (150.0, 120.0, 230.0, 260.0)  # IoU 0.29, overlap 0.62
    (matcher,) = built
    people = [Detection("person", 0.9, outer, "m"), Detection("person", 0.8, inner, "m")]
    assert len(matcher.match(people, START)) == 2  # the defaults (overlap 0.6) make them one object
