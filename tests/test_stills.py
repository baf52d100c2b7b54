"""Stills as cameras: a folder of timestamped pictures, timed by file name (pure core) and run by the worker."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from conftest import REPO, shared_file

from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.streams.errors import StreamError
from xuncha.streams.stills import Still, StillsError, StillsSource, order_stills, parse_still_time, thin
from xuncha.types import Frame
from xuncha.worker import Worker

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("image_2020-09-10T07-58-06.167747-00-00.jpg", datetime(2020, 9, 10, 7, 58, 6, 167747, UTC)),
        ("2018-03-20T19-25-26-0000.png", datetime(2018, 3, 20, 19, 25, 26, tzinfo=UTC)),
        ("cam_2020-09-10T07:58:06+08:00.jpg", datetime(2020, 9, 10, 7, 58, 6, tzinfo=CST)),
        ("cam_2020-09-10T07-58-06Z.jpg", datetime(2020, 9, 10, 7, 58, 6, tzinfo=UTC)),
        (
            "cam_2020-09-10T07-58-06-05-30.jpg",
            datetime(2020, 9, 10, 7, 58, 6, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        ("gate3_20200910_075806.jpg", datetime(2020, 9, 10, 7, 58, 6, tzinfo=CST)),  # no zone: the worker's
        ("20200910T075806.5.png", datetime(2020, 9, 10, 7, 58, 6, 500000, CST)),
        ("x_2020-13-10T07-58-06_2020-09-10T07-58-07.jpg", datetime(2020, 9, 10, 7, 58, 7, tzinfo=CST)),  # month 13
    ],
)
def test_times_are_read_from_the_file_name(name: str, expected: datetime) -> None:
    got = parse_still_time(name, CST)
    assert got == expected and got.utcoffset() == expected.utcoffset(), (name, got)


@pytest.mark.parametrize("name", ["shot0001.png", "IMG_1234.jpg", "2020-09-10.jpg", "cam_123456789012345.jpg"])
def test_names_without_a_full_time_have_none(name: str) -> None:
    assert parse_still_time(name, UTC) is None


def test_stills_are_ordered_by_the_time_in_the_name_not_by_name_or_mtime() -> None:
    entries = [  # sorted by name the 2018 still comes first; by zone-aware time it is the third
        ("a_2020-09-10T07-58-06+02-00.jpg", 3.0),  # 05:58:06 UTC
        ("b_2020-09-10T06-00-00-00-00.jpg", 1.0),  # 06:00:00 UTC
        ("c_2020-09-10T05-00-00-00-00.jpg", 2.0),  # 05:00:00 UTC
    ]
    stills = order_stills("c1", "f", entries, UTC)
    assert [s.name[0] for s in stills] == ["c", "a", "b"]
    assert stills[1].ts == datetime(2020, 9, 10, 5, 58, 6, tzinfo=UTC).timestamp()


def test_a_folder_without_any_name_times_falls_back_to_mtimes() -> None:
    stills = order_stills("c1", "f", [("shot2.png", 20.0), ("shot1.png", 30.0), ("shot3.png", 10.0)], UTC)
    assert [(s.name, s.ts) for s in stills] == [("shot3.png", 10.0), ("shot2.png", 20.0), ("shot1.png", 30.0)]


def test_a_folder_mixing_name_times_and_untimed_names_is_an_error_naming_them() -> None:
    entries = [("image_2020-09-10T07-58-06-00-00.jpg", 1.0), ("shot0001.png", 2.0)]
    with pytest.raises(StillsError, match=r"camera c1: still folder f: no time in the file name of shot0001\.png"):
        order_stills("c1", "f", entries, UTC)


def test_an_empty_folder_is_an_error() -> None:
    with pytest.raises(StillsError, match="camera c1: still folder f has no pictures"):
        order_stills("c1", "f", [], UTC)


def test_thinning_keeps_one_still_per_sample_interval() -> None:
    stills = [Still(str(i), t) for i, t in enumerate([0.0, 0.4, 2.0, 2.1, 5.0])]
    assert [s.ts for s in thin(stills, 2.0)] == [0.0, 2.0, 5.0]
    assert thin(stills, 0.1) == stills


def test_source_errors_name_the_camera_and_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(StreamError, match=rf"camera c1: still folder {tmp_path} has no pictures"):
        list(StillsSource("c1", tmp_path, 1.0).frames())
    with pytest.raises(StreamError, match="camera c1: still folder not found"):
        list(StillsSource("c1", tmp_path / "gone", 1.0).frames())
    (tmp_path / "broken_2020-09-10T07-58-06Z.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(StreamError, match="camera c1: no readable picture in"):
        list(StillsSource("c1", tmp_path, 1.0).frames())


# -- the real worker on real stills ------------------------------------------------------------------------

MUENSTER = [  # four stills of the Münster webcam, minutes apart (one 2018 still with the other naming)
    "image_2020-09-10T07-58-06.167747-00-00.jpg",
    "image_2020-09-10T07-45-22.486382-00-00.jpg",
    "image_2020-09-10T07-43-12.387504-00-00.jpg",
    "2018-03-20T19-25-26-0000.png",
]


def still_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "stills"
    folder.mkdir()
    for name in MUENSTER:
        (folder / name).symlink_to(shared_file(f"stills/muenster/{name}"))
    (folder / "LICENSE.repo").symlink_to(shared_file("stills/muenster/LICENSE.repo"))  # not a picture: ignored
    return folder


def worker_config(tmp_path: Path, folder: Path) -> dict:
    # A bicycle-parking zone over the whole picture (the shop fronts are full of parked bicycles).
    rule = {"category": "0506", "labels": ["bicycle"], "dwell_s": 60}
    return {
        "data_dir": str(tmp_path / "var"),
        "detectors": {"models": ["yolox_nano_coco"], "stationary": False},
        "cameras": [
            {
                "id": "muenster",
                "source": str(folder),
                "sample_interval_s": 30,
                "zones": [
                    {"id": "z", "name": "商铺门前", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "rules": [rule]}
                ],
            }
        ],
    }


class Samples:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def frame(self, cam: object, frame: Frame) -> None:
        self.frames.append(frame)

    def matched(self, *_: object) -> None:
        pass


def test_the_worker_samples_a_still_folder_at_the_pictures_times(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    folder = still_folder(tmp_path)
    cfg, taxonomy = resolve_config(WorkerConfig.model_validate(worker_config(tmp_path, folder)), tmp_path, "test")
    worker = Worker(cfg, taxonomy)
    seen = Samples()
    worker.observer = seen
    summary = worker.run(once=True)

    assert summary.failed_cameras == {}
    times = [datetime.fromtimestamp(f.ts, UTC) for f in seen.frames]
    expected = sorted(parse_still_time(n, UTC) for n in MUENSTER)
    assert times == expected  # every picture once, in time order, at its own time (not the run's)
    assert [f.offset for f in seen.frames] == pytest.approx([(t - expected[0]).total_seconds() for t in expected])
    assert {f.size for f in seen.frames} == {(1280, 720)}
    assert summary.samples == len(MUENSTER)


def test_a_start_time_on_a_still_folder_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "stills"
    folder.mkdir()
    data = worker_config(tmp_path, folder)
    data["cameras"][0]["start_time"] = "2026-05-01T09:00:00+00:00"
    with caplog.at_level("WARNING"):
        resolve_config(WorkerConfig.model_validate(data), tmp_path, "worker.yaml")
    assert f"worker.yaml: camera muenster: start_time is ignored: {folder} is a still folder" in caplog.text


def test_worker_command_runs_a_still_folder_and_fails_clearly_on_an_unparsable_one(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    folder = still_folder(tmp_path)
    config = tmp_path / "worker.yaml"
    config.write_text(yaml.safe_dump(worker_config(tmp_path, folder)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "xuncha.cli", "worker", "--config", str(config), "--once"]
    ok = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "done: 4 samples" in ok.stderr, ok.stderr[-2000:]

    (folder / "shot0001.png").symlink_to(shared_file("stills/muenster/shot0001.png"))
    bad = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1
    assert "camera muenster: still folder" in bad.stderr and "no time in the file name of shot0001.png" in bad.stderr
