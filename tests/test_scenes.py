"""Scene presets and category resolution: what a zone reports an object as (categorize.py's order)."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from xuncha.categorize import Candidate, exclusive_first, one_per_object, rank
from xuncha.config.worker import load_worker_config
from xuncha.confirm import ConfirmParams
from xuncha.taxonomy import load_taxonomy
from xuncha.types import Detection
from xuncha.zones import Zone, ZoneMatcher, ZoneSet
from xuncha.zones.scenes import load_scenes

W, H = 1000, 500
FULL = [(0, 0), (1, 0), (1, 1), (0, 1)]
NOON = datetime(2024, 5, 1, 12, 0)
SAME = ConfirmParams().same_place


def zone(zid: str = "z", polygon=FULL, **kw) -> Zone:
    return Zone.model_validate({"id": zid, "name": zid, "polygon": polygon, **kw})


def det(label: str, box, score: float = 0.9, model: str = "m") -> Detection:
    return Detection(label, score, tuple(float(v) for v in box), model)


def match(*zones: Zone, dets: list[Detection]) -> list[tuple[str, str, str]]:
    return [
        (c.zone_id, c.category, c.detection.label)
        for c in ZoneMatcher(ZoneSet(zones=list(zones)), (W, H)).match(dets, NOON)
    ]


def test_catalogue_has_the_eight_scenes_with_their_text_and_known_categories():
    cat = load_scenes()
    taxonomy = load_taxonomy()
    want = {"0102", "0198", "0507", "0506", "0505", "0504", "0508", "0501"}
    assert want <= {s.category for s in cat.scenes}
    for s in cat.scenes:
        assert s.title == taxonomy.get(s.category).name and s.purpose and s.how and s.failure_modes
        assert all(r.category in taxonomy for r in s.rules)


def test_scene_expands_to_its_rules_and_zone_dwell_overrides_them():
    z = zone(scene="exposed_garbage", dwell_s=15)
    assert z.scene == ["exposed_garbage"] and z.rules == []
    assert [(r.category, r.labels, r.dwell_s) for r in z.all_rules] == [("0102", ["garbage"], 15)]
    taxonomy = load_taxonomy()
    assert zone(scene=["car_parking"]).dwell("0505", taxonomy) == taxonomy.get("0505").dwell_s
    # A zone's own rules come after its scenes' (ties between named objects: the earlier wins).
    z2 = zone(scene="piled_materials", rules=[{"category": "0508", "labels": ["chair"]}])
    assert [n for n, _ in z2.named_rules] == ["scene piled_materials rules[0]", "rules[0]"]


def test_unknown_scene_and_empty_zone_are_named_errors():
    with pytest.raises(ValidationError, match=r"zone 'z': scene: unknown scene 'garbage'.*exposed_garbage"):
        zone(scene="garbage")
    with pytest.raises(ValidationError, match="zone 'z': needs a scene or at least one rule"):
        zone()


def test_a_stationary_object_that_garbage_overlaps_is_exposed_garbage_with_the_stationary_box():
    z = zone(scene=["exposed_garbage", "piled_materials"])
    blob = det("static_object", (100, 100, 160, 170), 0.6, "stationary")
    bag = det("garbage", (104, 98, 158, 172), 0.91, "garbage")
    box = det("static_object", (600, 100, 700, 200), 0.7, "stationary")  # a cardboard pile: nothing names it
    got = ZoneMatcher(ZoneSet(zones=[z]), (W, H)).match([blob, bag, box], NOON)
    assert [(c.category, c.detection.label, c.detection.score, c.detection.box) for c in got] == [
        ("0102", "garbage", 0.91, blob.box),
        ("0507", "static_object", 0.7, box.box),
    ]


def test_vehicles_and_people_are_not_piled_materials_but_their_own_scene():
    car = det("car", (300, 200, 500, 330))
    blob = det("static_object", (305, 205, 495, 330), 0.7, "stationary")
    assert match(zone(scene="piled_materials"), dets=[car, blob]) == []  # a parked car is no pile
    assert match(zone(scene=["piled_materials", "car_parking"]), dets=[car, blob]) == [("z", "0505", "car")]
    bike = det("bicycle", (300, 200, 360, 260))
    assert match(zone(scene="exposed_garbage"), dets=[bike]) == []  # a bicycle in a garbage zone


def test_bin_zone_claims_garbage_around_the_bin_from_the_pavement_zone():
    pavement = zone("pavement", scene="exposed_garbage")
    bin_zone = zone("bin", [(0.1, 0.1), (0.3, 0.1), (0.3, 0.6), (0.1, 0.6)], scene="bin_overflow")
    near_bin = det("garbage", (150, 150, 220, 250))
    elsewhere = det("garbage", (700, 150, 770, 250))
    assert match(pavement, bin_zone, dets=[near_bin, elsewhere]) == [
        ("pavement", "0102", "garbage"),
        ("bin", "0198", "garbage"),
    ]
    got = ZoneMatcher(ZoneSet(zones=[pavement, bin_zone]), (W, H)).match([near_bin, elsewhere], NOON)
    assert [c.detection.box for c in got] == [elsewhere.box, near_bin.box]


def test_hawker_is_a_person_beside_goods_not_a_person_alone():
    person = det("person", (400, 100, 450, 300))
    goods = det("static_object", (455, 250, 520, 300), 0.7, "stationary")
    far_goods = det("static_object", (800, 250, 860, 300), 0.7, "stationary")
    assert match(zone(scene="hawker"), dets=[person]) == []
    assert match(zone(scene="hawker"), dets=[person, far_goods]) == []
    assert match(zone(scene="hawker"), dets=[person, goods]) == [("z", "0501", "person")]


def test_one_per_object_keeps_zones_apart_and_exclusive_first_drops_claimed_detections():
    d = det("garbage", (10, 10, 50, 50))
    a = Candidate("a", "0102", d, rank(0, False))
    b = Candidate("b", "0198", d, rank(0, False))
    assert one_per_object([a, b], SAME) == [a, b]
    assert exclusive_first([a, b], frozenset({"b"})) == [b]


def test_scene_zone_in_a_worker_config(tmp_path):
    cfg = tmp_path / "w.yaml"
    cfg.write_text(
        "cameras:\n  - id: c1\n    source: x.mp4\n    zones:\n"
        "      - {id: walk, name: 人行道, polygon: [[0,0],[1,0],[1,1]], scene: [piled_materials, bike_parking]}\n"
    )
    c, _ = load_worker_config(cfg)
    assert [r.category for r in c.cameras[0].zones.zones[0].all_rules] == ["0507", "0506"]


def test_a_walker_over_a_small_bag_does_not_hide_it_but_a_person_standing_still_is_no_pile():
    z = zone(scene="piled_materials")
    bag = det("static_object", (395, 265, 425, 295), 0.8, "stationary")
    walker = det("person", (380, 150, 440, 300))  # 10x the bag's area, covering it
    assert match(z, dets=[bag, walker]) == [("z", "0507", "static_object")]
    standing = det("static_object", (385, 160, 435, 300), 0.8, "stationary")  # the person's own blob
    assert match(z, dets=[standing, walker]) == []
