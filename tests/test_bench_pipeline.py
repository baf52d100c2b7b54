"""The precision bench end to end on one composed scenario, and its xuncha column against a real Worker."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml
from conftest import REPO, SHARED_DATA, shared_file

from xuncha.bench.precision import report_json, report_table, run_precision
from xuncha.config.worker import load_worker_config
from xuncha.train.suite import START
from xuncha.worker import Worker


def test_bench_xuncha_column_is_what_the_worker_reports(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    shared_file("footage/sidewalk_bag_left.avi")
    shared_file("datasets/street_trashbags")
    suite = yaml.safe_load((REPO / "bench" / "scenarios" / "sidewalk.yaml").read_text())
    suite["scenarios"] = [s for s in suite["scenarios"] if s["id"] == "sw-multi-pile"]  # 2 found, 1 taken away
    spec = tmp_path / "one.yaml"
    spec.write_text(yaml.safe_dump(suite, allow_unicode=True))

    (result,) = run_precision([spec], tmp_path / "out", SHARED_DATA)
    assert result.violations == 2
    bench_opened = sorted(
        (tuple(round(v, 1) for v in c.clue.box), round(c.clue.first_s, 2), round(c.clue.open_s, 2))
        for c in result.matches["xuncha"].clues
    )

    cfg, taxonomy = load_worker_config(tmp_path / "out" / "sw-multi-pile.yaml")
    events = Worker(cfg, taxonomy).run(once=True).events
    t0 = START.astimezone(UTC)

    def off(t: datetime) -> float:
        return round((t - t0).total_seconds(), 2)

    worker_opened = sorted((e.box, off(e.first_seen), off(e.last_seen)) for e in events if e.kind == "opened")
    assert bench_opened == worker_opened
    assert len(worker_opened) >= 1  # the comparison is about something

    # The naive baseline sees the same candidates every sample: never fewer clues than xuncha.
    assert len(result.matches["naive"].clues) >= len(result.matches["xuncha"].clues)
    doc = report_json([result])
    assert {g["group"] for g in doc["groups"]} == {"kind multi", "suite one", "clip sidewalk_bag_left.avi", "all"}
    assert "| all | xuncha |" in report_table([result])
