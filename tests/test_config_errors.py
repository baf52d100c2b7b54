"""Bad worker config files get one clear line naming the file (and camera, zone, field), never a
traceback; what a user may mean is a warning (issue 11, findings 7 and 8)."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import shared_file

from xuncha.config.worker import WorkerConfig, load_worker_config
from xuncha.yamlfile import ConfigError, read_yaml, validate


def _xuncha_worker(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xuncha.cli", "worker", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_non_utf8_and_broken_yaml_are_one_line_errors(tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("cameras:\n  - id: cam\n    name: 东门\n".encode("gbk"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("cameras:\n  - id: cam\n   name: [x\n", encoding="utf-8")
    r = _xuncha_worker(gbk)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"xuncha: {gbk}: not UTF-8 text: byte 0xb6 at offset 31 (line 3)")
    r = _xuncha_worker(broken)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"xuncha: {broken}: not valid YAML: line 3, column 4:")
    with pytest.raises(ConfigError, match=r"line 2\)"):
        read_yaml(_write(tmp_path / "latin1.yaml", "a: 1\nb: caf\xe9\n".encode("latin-1")))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _camera(**over: object) -> dict:
    cam = {
        "id": "gate-3",
        "name": "江南西路口",
        "source": "rtsp://10.0.0.8/ch1",
        "zones": [
            {
                "id": "box",
                "name": "配电箱旁",
                "polygon": [[0.1, 0.5], [0.4, 0.5], [0.4, 0.9]],
                "rules": [{"category": "0507", "labels": ["suitcase"]}],
            }
        ],
    }
    return {**cam, **over}


def _config(tmp_path: Path, *cameras: dict, **top: object) -> Path:
    path = tmp_path / "worker.yaml"
    doc = {"data_dir": str(tmp_path / "var"), "detectors": {"stationary": False}, **top, "cameras": list(cameras)}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as e:
        load_worker_config(path)
    return str(e.value)


def test_bad_camera_fields_name_file_camera_zone_and_field(tmp_path: Path) -> None:
    msg = _error(_config(tmp_path, _camera(source="rtps://admin:pw@10.0.0.8/ch1")))
    assert str(tmp_path / "worker.yaml") in msg and "cameras[0] (id 'gate-3').source" in msg
    assert "unknown URL scheme 'rtps' (did you mean rtsp://?)" in msg and "pw" not in msg
    msg = _error(_config(tmp_path, _camera(name="路" * 300)))
    assert "cameras[0] (id 'gate-3').name: String should have at most 200 characters" in msg
    zone = _camera()["zones"][0]
    ring = [
        [0.5 + 0.4 * math.cos(2 * math.pi * i / 200_000), 0.5 + 0.4 * math.sin(2 * math.pi * i / 200_000)]
        for i in range(200_000)
    ]
    # Validated as load_worker_config does after parsing (parsing 5 MB of YAML alone takes seconds).
    start = time.process_time()
    with pytest.raises(ConfigError) as e:
        validate(WorkerConfig, {"cameras": [_camera(zones=[{**zone, "polygon": ring}])]}, "worker.yaml")
    assert time.process_time() - start < 2
    assert "zone 'box': polygon: has 200000 points, at most 1000 (simplify the polygon)" in str(e.value)
    assert str(e.value).startswith("worker.yaml: 1 invalid field(s)\n  cameras[0] (id 'gate-3').zones")
    # The review service's camera registry validates with the same models, in Chinese.
    problems = validate_problems(_camera(source="rtps://10.0.0.8/ch1"))
    hint = "（应为 rtsp://、rtsps://、rtmp://、http(s):// 或文件路径）"
    assert problems == ["点位 gate-3 的「视频源」：未知的地址协议 rtps://" + hint]


def validate_problems(cam: dict) -> list[str]:
    from xuncha.review.cameras import CameraFields, RegistryError, camera_config

    try:
        camera_config(CameraFields(id=cam["id"], name=cam["name"], source=cam["source"]))
    except RegistryError as e:
        return e.problems
    return []


def test_what_a_user_may_mean_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    zone = _camera()["zones"][0]
    quick = {**zone, "rules": [{"category": "0507", "labels": ["suitcase"], "dwell_s": 0}]}
    truck = {**zone, "id": "road", "rules": [{"category": "0302", "labels": ["truck"], "dwell_s": 0}]}
    with caplog.at_level(logging.WARNING, logger="xuncha.config.worker"):
        cfg, _ = load_worker_config(_config(tmp_path, _camera(id="quiet", zones=[]), _camera(zones=[quick, truck])))
    assert [c.id for c in cfg.cameras] == ["quiet", "gate-3"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings  # 0302 (渣土车未密闭) waits 0 s by default: no warning for it
    assert "camera quiet: zones is empty: the camera is only checked for health" in warnings[0]
    assert "camera gate-3, zone box, rules[0].dwell_s: 0 makes every single sighting a clue" in warnings[1]


def test_a_rule_label_no_model_produces_stops_the_worker_with_one_line(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    zone = _camera()["zones"][0]
    zone = {**zone, "rules": [{"category": "0507", "labels": ["suitcase", "unicorn"], "exclude_labels": ["person"]}]}
    path = _config(tmp_path, _camera(zones=[zone]), detectors={"models": ["yolox_nano_coco"], "stationary": True})
    r = _xuncha_worker(path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"xuncha: {path}: camera gate-3, zone box, rules[0].labels: 'unicorn' is produced")
    assert "suitcase'" not in r.stderr and "static_object" in r.stderr  # known labels listed: models + stages


def test_a_config_change_naming_an_unknown_label_is_not_applied(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    import os

    from xuncha.worker.command import _config_watcher

    path = _config(tmp_path, _camera())
    reload = _config_watcher(path, {"suitcase", "person"}, path.stat().st_mtime_ns)
    zone = {**_camera()["zones"][0], "rules": [{"category": "0507", "labels": ["unicorn"]}]}
    _config(tmp_path, _camera(zones=[zone]))
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))
    with caplog.at_level(logging.ERROR, logger="xuncha.worker"):
        assert reload() is None
    assert "config change ignored" in caplog.text and "rules[0].labels: 'unicorn' is produced by no" in caplog.text
