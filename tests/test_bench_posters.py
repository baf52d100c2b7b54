"""Poster scenarios: truth follows the items (violation / distractor, box where the video changed, phone)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_file

from xuncha.bench.evaluate import Clue, TruthViolation, match
from xuncha.bench.poster_scenarios import PosterSuite, compose_poster_scenario, phone_reads, scenario_kind
from xuncha.config.worker import load_worker_config

pytest.importorskip("PIL", reason="the ocr extra (Pillow) is not installed")

SUITE = {
    "posters": True,
    "duration_s": 90,
    "sample_interval_s": 2,
    "dwell_s": 60,
    "clips": {
        "sidewalk": {
            "file": "sidewalk_bag_left.avi",
            "segment": [0, 8.5],
            "zone": [[0.69, 0.47], [1, 0.47], [1, 1], [0.69, 1]],
        }
    },
    "scenarios": [
        {
            "id": "t-poster",
            "clip": "sidewalk",
            "items": [
                {"kind": "poster", "lines": ["开锁", "13812345678"], "char_px": 12, "at": [600, 330], "start_s": 10},
                {
                    "kind": "poster",
                    "lines": ["办证", "13912349999"],
                    "char_px": 12,
                    "at": [520, 400],
                    "start_s": 10,
                    "end_s": 40,
                },
                {"kind": "newspaper", "lines": ["招聘"], "char_px": 9, "at": [560, 300], "start_s": 20, "end_s": 50},
            ],
        }
    ],
}


def test_composed_poster_scenario_truth_and_config(tmp_path: Path) -> None:
    footage = shared_file("footage/sidewalk_bag_left.avi").parent
    suite = PosterSuite.model_validate(SUITE)
    sc = suite.scenarios[0]
    truth = compose_poster_scenario(suite, sc, footage, tmp_path)
    assert json.loads((tmp_path / "t-poster.truth.json").read_text()) == truth
    (v,) = truth["violations"]
    assert v["category"] == "0201" and v["phone"] == "13812345678" and v["char_px"] == 12 and v["end_s"] is None
    assert [d["kind"] for d in truth["distractors"]] == ["poster", "newspaper"]  # torn down early; a reader
    assert scenario_kind(sc) == "torn_down"
    cap = cv2.VideoCapture(str(tmp_path / "t-poster.mp4"))
    frames = [cap.read()[1] for _ in range(45)]
    assert all(f is not None for f in frames)
    before, after = frames[3].astype(int), frames[30].astype(int)  # 6 s and 60 s
    changed = np.abs(after - before).max(axis=2) > 40
    x1, y1, x2, y2 = (int(c) for c in v["box"])
    assert changed[y1:y2, x1:x2].mean() > 0.3 and changed[:, :450].mean() < 0.01  # the poster, nothing else
    cfg, _ = load_worker_config(tmp_path / "t-poster.yaml")
    zone = cfg.cameras[0].zones.zones[0]
    assert zone.scene == ["small_ads", "banner"] and zone.dwell_s == 60


def test_phone_reads_count_found_posters_with_the_number_read_exactly() -> None:
    truth = {
        "violations": [
            {"object": 0, "phone": "13812345678", "char_px": 12},
            {"object": 1, "phone": None, "char_px": 16},
        ]
    }
    violations = [TruthViolation("s", f"o{i}", "0201", (0, 0, 10, 10), 0, None) for i in (0, 1)]
    clues = [
        Clue("s", "0201", (0, 0, 10, 10), 70, 10, "开锁 138 1234 5678"),
        Clue("s", "0201", (0, 0, 10, 10), 80, 10, "x"),
    ]
    assert phone_reads(match(clues, violations[:1]), truth) == [(12, True)]
    wrong = [Clue("s", "0201", (0, 0, 10, 10), 70, 10, "开锁 13812345679")]
    assert phone_reads(match(wrong, violations[:1]), truth) == [(12, False)]


def test_light_scales_the_whole_picture_by_a_ramp_or_a_step(tmp_path: Path) -> None:
    footage = shared_file("footage/sidewalk_bag_left.avi").parent
    doc = SUITE | {"duration_s": 20, "scenarios": [{"id": "t-light", "clip": "sidewalk", "items": []}]}
    plain = PosterSuite.model_validate(doc)
    doc["scenarios"] = [{"id": "t-light", "clip": "sidewalk", "items": [], "light": [[9.9, 1.0], [10, 0.5]]}]
    lit = PosterSuite.model_validate(doc)
    ramp = lit.scenarios[0].model_copy(update={"light": [(0, 1.0), (20, 0.5)]})
    assert [ramp.gain(t) for t in (-5, 0, 10, 20, 30)] == [1.0, 1.0, 0.75, 0.5, 0.5]
    assert scenario_kind(lit.scenarios[0]) == "lighting_signs_only"
    means = {}
    for name, suite in (("plain", plain), ("lit", lit)):
        compose_poster_scenario(suite, suite.scenarios[0], footage, tmp_path / name)
        cap = cv2.VideoCapture(str(tmp_path / name / "t-light.mp4"))
        means[name] = [cap.read()[1].mean() for _ in range(10)]
    ratio = np.array(means["lit"]) / np.array(means["plain"])
    assert np.allclose(ratio[:5], 1.0, atol=0.02) and np.allclose(ratio[5:], 0.5, atol=0.03)  # the step at 10 s


def _standing_clip(path: Path) -> None:
    """10 s at 5 fps of a grey wall; a dark person stands at x 20-200 from 2 s to 8 s (most of the clip)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (240, 180))
    for i in range(50):
        frame = np.full((180, 240, 3), 120, np.uint8)
        if 10 <= i < 40:
            frame[10:170, 20:200] = 40
        writer.write(frame)
    writer.release()


def test_walker_mask_uses_the_bare_background_not_a_median_with_a_standing_person(tmp_path: Path) -> None:
    _standing_clip(tmp_path / "standing.mp4")
    item = {"kind": "poster", "lines": ["开锁", "13812345678"], "char_px": 12, "at": [50, 60]}
    doc = {
        "posters": True,
        "duration_s": 10,
        "sample_interval_s": 1,
        "clips": {"c": {"file": "standing.mp4", "zone": [[0, 0], [1, 0], [1, 1], [0, 1]]}},
        "scenarios": [{"id": "t-stand", "clip": "c", "items": [item]}],
    }

    def frames(suite_doc: dict, name: str) -> tuple[list[np.ndarray], tuple[int, ...]]:
        suite = PosterSuite.model_validate(suite_doc)
        truth = compose_poster_scenario(suite, suite.scenarios[0], tmp_path, tmp_path / name)
        cap = cv2.VideoCapture(str(tmp_path / name / "t-stand.mp4"))
        out = [cap.read()[1] for _ in range(10)]
        return out, tuple(int(c) for c in truth["distractors"][0]["box"])

    def share(frame: np.ndarray, box: tuple[int, ...], level: int) -> float:
        x1, y1, x2, y2 = box
        return float((np.abs(frame[y1:y2, x1:x2].astype(int) - level).max(axis=2) < 12).mean())

    # The whole clip's median shows the person, so at 1 s and 9 s the bare wall was pasted over the poster.
    old, box = frames(doc, "median")
    assert share(old[1], box, 120) > 0.9 and share(old[9], box, 120) > 0.9
    doc["clips"]["c"]["background_s"] = [[0, 2], [8, 10]]
    new, box = frames(doc, "bare")
    for t in (1, 9):  # nobody in front: the poster shows whole, no wall over it
        assert share(new[t], box, 120) < 0.05 and share(new[t], box, 235) > 0.5
    assert share(new[5], box, 40) > 0.9  # the standing person still covers it
    doc["clips"]["c"]["background_s"] = [[20, 30]]
    with pytest.raises(ValueError, match="no frame"):
        frames(doc, "outside")
