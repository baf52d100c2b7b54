"""The view check on the real sidewalk footage: people, a lighting ramp, a shifted and a foreign view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import shared_file

from xuncha.bench.viewclips import frames, lit, ramp, shifted
from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.view.check import Reference, ViewCheck, ViewParams, apply_affine
from xuncha.yamlfile import ConfigError

STEP = 15  # two samples a second of the 29.97 fps clip


@pytest.fixture(scope="module")
def sidewalk() -> list[np.ndarray]:
    return list(frames(shared_file("footage/sidewalk_bag_left.avi"), STEP))


def run(check: ViewCheck, images: list[np.ndarray]) -> list[str]:
    return [check.update(i / 2, img).state for i, img in enumerate(images)]


def test_people_and_a_lighting_ramp_keep_the_view(sidewalk: list[np.ndarray]) -> None:
    check = ViewCheck(sidewalk[0])
    n = len(sidewalk)
    states = run(check, [lit(img, ramp(i, n)) for i, img in enumerate(sidewalk)])
    assert states == ["ok"] * n
    assert check.status.last is not None and check.status.last.verdict == "same"


def test_a_shifted_view_raises_the_alarm_with_the_shift_as_suggestion(sidewalk: list[np.ndarray]) -> None:
    check = ViewCheck(sidewalk[0], ViewParams(changed_after=3))
    states = run(check, [shifted(img, 0.04, -0.02) for img in sidewalk[1:]])
    assert states[:2] == ["ok", "ok"] and set(states[2:]) == {"changed"}
    s = check.status
    assert s.paused and s.since == 0.0
    assert s.suggestion is not None
    dx, dy = s.suggestion[0][2], s.suggestion[1][2]
    assert abs(dx - 0.04) < 0.005 and abs(dy + 0.02) < 0.005, (dx, dy)
    moved = apply_affine(s.suggestion, [(0.5, 0.6), (0.9, 0.6), (0.9, 0.9)])
    assert moved[0] == pytest.approx((0.54, 0.58), abs=0.006)


def test_a_zoomed_view_is_changed_but_not_offered_as_a_shift(sidewalk: list[np.ndarray]) -> None:
    import cv2

    zoom = [cv2.resize(img[48:-48, 72:-72], (720, 480)) for img in sidewalk[1:8]]  # 10% crop: zoomed in
    check = ViewCheck(sidewalk[0])
    assert run(check, zoom)[-1] == "changed"
    assert check.status.suggestion is None


def test_another_scene_is_lost_and_returning_to_the_preset_resumes(sidewalk: list[np.ndarray]) -> None:
    street = list(frames(shared_file("footage/shopping_street.mp4"), 3))
    check = ViewCheck(sidewalk[0], ViewParams(lost_after=10))
    states = run(check, street[:10])
    assert states == ["ok"] * 9 + ["changed"]  # matching nothing takes longer than a consistent move
    assert check.status.last is not None and check.status.last.verdict == "lost"
    assert check.status.suggestion is None
    assert run(check, sidewalk[1:4])[-1] == "ok"  # the PTZ went back to its preset


def test_an_admin_accepting_the_view_makes_it_the_reference(sidewalk: list[np.ndarray]) -> None:
    moved = [shifted(img, 0.05, 0.0) for img in sidewalk[1:10]]
    check = ViewCheck(sidewalk[0])
    assert run(check, moved[:4])[-1] == "changed"
    check.accept()
    assert run(check, moved[4:]) == ["ok"] * 5


def test_dark_or_covered_pictures_give_no_verdict(sidewalk: list[np.ndarray]) -> None:
    check = ViewCheck(sidewalk[0])
    black = np.zeros_like(sidewalk[0])
    assert run(check, [black] * 5) == ["ok"] * 5
    assert check.reference.match(black).verdict == "blank"


def test_a_featureless_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="too little texture"):
        Reference(np.full((480, 720, 3), 128, np.uint8))


def test_checking_every_other_sample_halves_the_work_and_doubles_the_delay(sidewalk: list[np.ndarray]) -> None:
    check = ViewCheck(sidewalk[0], ViewParams(every=2))
    states = run(check, [shifted(img, 0.04, 0.0) for img in sidewalk[1:7]])
    assert states == ["ok"] * 4 + ["changed"] * 2  # checks on samples 1, 3 and 5


def test_view_check_settings_are_checked_with_the_config(tmp_path: Path) -> None:
    cfg = WorkerConfig.model_validate(
        {"cameras": [{"id": "a", "source": "a.mp4", "zones": []}], "view_check": {"changed_after": 0}}
    )
    with pytest.raises(ConfigError, match="view_check.*changed_after=0"):
        resolve_config(cfg, tmp_path, "worker.yaml")
    ok = WorkerConfig.model_validate(
        {"cameras": [{"id": "a", "source": "a.mp4", "zones": []}], "view_check": {"lost_after": 20, "tolerance": 0.02}}
    )
    params = resolve_config(ok, tmp_path, "worker.yaml")[0].view_params()
    assert params.lost_after == 20 and isinstance(params.lost_after, int) and params.tolerance == 0.02
