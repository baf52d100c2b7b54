"""`xuncha bench month` on a real composed scenario: the recording is replayed exactly at level 0, and a
level reaches the worker's zone matcher and dwell (a raised dwell longer than the bag stays loses it)."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import REPO, SHARED_DATA, shared_file

from xuncha.bench.month import Noise
from xuncha.bench.month_replay import episode, record
from xuncha.review.gating import GatingSettings


def test_levels_replayed_through_the_worker_pipeline(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    shared_file("footage/sidewalk_bag_left.avi")
    shared_file("datasets/street_trashbags")
    suite = yaml.safe_load((REPO / "bench" / "scenarios" / "heldout_sidewalk.yaml").read_text())
    suite["scenarios"] = [s for s in suite["scenarios"] if s["id"] == "ho-sw-near"]  # a bag from 5 s to the end
    spec = tmp_path / "one.yaml"
    spec.write_text(yaml.safe_dump(suite, allow_unicode=True))

    (rec,) = record([spec], tmp_path / "out", SHARED_DATA)  # raises unless the level-0 replay is exact
    p, quiet = GatingSettings(), Noise(0.0, 0.0)
    today = episode(rec, (), 0, p, quiet)
    assert [c.filed for c in today.clues] == [True] and today.found == today.violations == 1
    (clue,) = today.clues
    # Level 1: dwell 45 s x 1.5 = 67.5 s, still inside the 90 s video; level 2: x2 = 90 s, no longer.
    at = {lv: episode(rec, ((clue.zone, clue.category, lv),), 0, p, quiet) for lv in (1, 2)}
    assert at[1].found == 1 and at[1].clues == today.clues
    assert at[2].found == 0 and at[2].clues == ()
    other = episode(rec, ((clue.zone, "0000", 4),), 0, p, quiet)  # another category's level changes nothing
    assert other == today
    noisy = episode(rec, (), 5, p, Noise(0.05, 0.1))
    assert noisy == episode(rec, (), 5, p, Noise(0.05, 0.1))  # seeded
