"""The scenario composer: deterministic, exact ground truth, and the shipped suites are valid."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import REPO, shared_file

from xuncha.taxonomy import load_taxonomy
from xuncha.train.composite import BackgroundClip, CutoutLibrary, compose
from xuncha.train.suite import ScenarioSpec, Suite, classify, load_suite
from xuncha.yamlfile import ConfigError

SUITES = sorted((REPO / "bench" / "scenarios").glob("*.yaml"))
REQUIRED_KINDS = {"dumped", "taken", "returned", "multi", "light_slow", "light_sudden", "shake", "standing", "crowd"}


def small_suite(**scenario: object) -> Suite:
    """The sidewalk background, 20 s at 5 fps, a zone over the left pavement with a 0 s dwell."""
    return Suite.model_validate(
        {
            "background": {
                "clip": "sidewalk_bag_left.avi",
                "segment": [0.0, 4.0],
                "near": {"y": 0.9, "height": 0.12},
                "far": {"y": 0.3, "height": 0.05},
            },
            "fps": 5,
            "duration_s": 20,
            "zones": [
                {
                    "id": "pavement",
                    "name": "人行道",
                    "polygon": [[0.1, 0.25], [0.66, 0.25], [0.66, 1.0], [0.05, 1.0]],
                    "rules": [{"category": "0507", "labels": ["static_object"], "dwell_s": 0}],
                }
            ],
            "scenarios": [{"id": "t", "kind": "dumped", "seed": 7, **scenario}],
        }
    )


@pytest.fixture(scope="module")
def data() -> tuple[Path, CutoutLibrary]:
    footage = shared_file("footage/sidewalk_bag_left.avi").parent
    return footage, CutoutLibrary(shared_file("datasets/street_trashbags"))


def decoded(video: Path) -> list[np.ndarray]:
    with av.open(str(video)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def test_same_seed_gives_identical_truth_and_frames(tmp_path: Path, data: tuple) -> None:
    footage, cutouts = data
    suite = small_suite(objects=[{"at": [0.4, 0.7], "appear_s": 2}], shake_px=1.5)
    a = compose(suite, suite.scenarios[0], footage, cutouts, tmp_path / "a")
    b = compose(suite, suite.scenarios[0], footage, cutouts, tmp_path / "b")
    assert a.truth.read_text() == b.truth.read_text()
    assert a.frame_md5 == b.frame_md5 and len(a.frame_md5) == 100
    other = small_suite(objects=[{"at": [0.4, 0.7], "appear_s": 2}], shake_px=1.5, seed=8)
    c = compose(other, other.scenarios[0], footage, cutouts, tmp_path / "c")
    assert c.frame_md5[20:] != a.frame_md5[20:]  # another seed: another cut-out and shake


def test_truth_box_is_where_the_object_is_in_the_video(tmp_path: Path, data: tuple) -> None:
    footage, cutouts = data
    # Outside the zone, so that any stay is exact truth (a distractor) and it can leave again.
    suite = small_suite(
        objects=[{"at": [0.86, 0.55], "appear_s": 4, "disappear_s": 16, "gaps": [[8, 10]], "shadow": False}]
    )
    out = compose(suite, suite.scenarios[0], footage, cutouts, tmp_path)
    truth = json.loads(out.truth.read_text())
    (obj,) = truth["distractors"]
    x1, y1, x2, y2 = (int(round(v)) for v in obj["box"])
    clip = BackgroundClip(footage / "sidewalk_bag_left.avi", 5, (0.0, 4.0))
    frames = decoded(out.video)
    assert len(frames) == 100 and truth["frame_size"] == [720, 480]
    inside, ring = np.zeros((480, 720), bool), np.zeros((480, 720), bool)
    inside[y1:y2, x1:x2] = True
    ring[y1 - 20 : y2 + 20, x1 - 20 : x2 + 20] = True
    ring &= ~inside
    for i, f in enumerate(frames):
        diff = np.abs(f.astype(int) - clip.frame(i).astype(int)).mean(axis=2)
        t = i / 5
        present = 4.2 <= t < 15.8 and not 7.8 <= t < 10.2
        if present:  # the box holds the change, its surroundings do not
            assert diff[inside].mean() > 25, (t, diff[inside].mean())
            assert diff[ring].mean() < 6, (t, diff[ring].mean())
        elif t < 3.8 or t >= 16.2 or 8.2 <= t < 9.8:  # absent (before, after, taken away): nothing there
            assert diff[inside].mean() < 6, (t, diff[inside].mean())


def test_violation_or_distractor_follows_zone_and_dwell() -> None:
    taxonomy = load_taxonomy(None)
    suite = small_suite(
        objects=[
            {"at": [0.4, 0.7], "appear_s": 2},  # 18 s in the zone >= 0 + 15: violation
            {"at": [0.9, 0.7], "appear_s": 2},  # outside the zone
        ]
    )
    kinds = classify(suite, suite.scenarios[0], taxonomy)
    assert [(z, v) for z, _, v, _ in kinds] == [("pavement", True), (None, False)]
    ambiguous = small_suite(objects=[{"at": [0.4, 0.7], "appear_s": 2, "disappear_s": 12}])  # 10 s: unclear
    with pytest.raises(ConfigError, match=r"scenario t: objects\[0\] stays 10 s in zone pavement"):
        classify(ambiguous, ambiguous.scenarios[0], taxonomy)


def test_shipped_suites_hold_at_least_30_valid_scenarios_of_every_kind() -> None:
    taxonomy = load_taxonomy(None)
    scenarios = []
    for path in SUITES:
        suite = load_suite(path)
        for sc in suite.scenarios:
            classify(suite, sc, taxonomy)  # raises on ambiguous truth
            scenarios.append(sc)
    assert len(scenarios) >= 30
    assert REQUIRED_KINDS <= {sc.kind for sc in scenarios}
    assert len({sc.id for sc in scenarios}) == len(scenarios)


def test_bad_suite_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("background: {clip: x.mp4, near: {y: 0.3, height: 0.1}, far: {y: 0.9, height: 0.05}}\n")
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert str(path) in str(err.value) and "near.y must be below" in str(err.value)


def synthetic_clip(person_rows: tuple[int, int]) -> BackgroundClip:
    """A grey 200x120 scene where a dark 'person' (given rows, feet at the lower row) walks left to right."""
    clip = BackgroundClip.__new__(BackgroundClip)
    clip.frames = []
    for i in range(10):
        f = np.full((120, 200, 3), 120, np.uint8)
        f[person_rows[0] : person_rows[1], 10 + 18 * i : 30 + 18 * i] = 20
        clip.frames.append(f)
    clip.size = (200, 120)
    return clip


@pytest.mark.parametrize("person_rows, in_front", [((40, 110), True), ((20, 60), False)])
def test_people_nearer_the_camera_walk_in_front_of_the_object(person_rows: tuple, in_front: bool) -> None:
    from xuncha.train.composite import Cutout, compose_frame, make_sprite
    from xuncha.train.suite import Background, ObjectSpec, Placement

    clip = synthetic_clip(person_rows)
    cut = Cutout("white", np.full((40, 40, 3), 250, np.uint8), np.ones((40, 40), np.float32), 120.0)
    bg = Background(clip="x", near={"y": 0.9, "height": 0.3}, far={"y": 0.1, "height": 0.3})
    obj = ObjectSpec(at=(0.5, 0.75), appear_s=0, shadow=False)  # 36 px tall, feet at row 90
    sprite = make_sprite(cut, obj, bg, clip, Placement(0, (0, 0, 0, 0), 0.0, None, (), None, None, False, ""))
    ys, xs = sprite.region
    i = 5  # the person's columns 100-120 cross the object's (82-118)
    frame = compose_frame(clip, i, 1.0, [sprite], ScenarioSpec(id="t", kind="dumped"), np.zeros(2))
    core = frame[ys.start + 8 : ys.stop - 8, 104:114].astype(int)
    if in_front:
        assert np.abs(core - 20).max() <= 3  # the person's dark pixels, over the object
    else:
        assert core.min() > 200  # the object (brightness matched to the grey ground) hides the person
    assert frame[ys.start + 8 : ys.stop - 8, xs.start + 2 : 98].min() > 150  # uncovered part of the object
