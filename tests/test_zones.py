"""Zone geometry, zone-set validation and matching detections to zones."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import numpy as np
import pytest
from pydantic import ValidationError

from xuncha.categorize import Candidate
from xuncha.taxonomy import load_taxonomy
from xuncha.types import Detection
from xuncha.yamlfile import ConfigError, load_yaml, validate
from xuncha.zones import Rule, Zone, ZoneMatcher, ZoneSet, check_zone_set, zone_polygon_px
from xuncha.zones.geometry import (
    boxes_fraction_inside,
    coverage_matrix,
    in_hours,
    parse_hours,
    pixel_polygon,
    points_inside,
)

W, H = 1000, 500
FULL = [(0, 0), (1, 0), (1, 1), (0, 1)]
LEFT_HALF = [(0, 0), (0.5, 0), (0.5, 1), (0, 1)]
NOON = datetime(2024, 5, 1, 12, 0)


def zone(zid="z1", polygon=FULL, rules=None, **kw) -> Zone:
    rules = rules if rules is not None else [{"category": "0507", "labels": ["static_object"]}]
    return Zone.model_validate({"id": zid, "name": zid, "polygon": polygon, "rules": rules, **kw})


def det(label, box, score=0.9, model="m") -> Detection:
    return Detection(label, score, tuple(float(v) for v in box), model)


def matcher(*zones: Zone, size=(W, H)) -> ZoneMatcher:
    return ZoneMatcher(ZoneSet(zones=list(zones)), size)


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


# --- geometry -------------------------------------------------------------------------------------------


def test_point_in_polygon_scales_to_frame_and_includes_edges():
    poly = pixel_polygon(tuple(LEFT_HALF), (W, H))
    pts = [(100, 250), (600, 250), (500, 250), (250, 500), (100, 501)]
    # On the right edge and on the bottom edge (= frame bottom: a box standing on it) count as inside.
    assert points_inside(poly, pts).tolist() == [True, False, True, True, False]


def test_fraction_of_box_inside_polygon():
    poly = pixel_polygon(tuple(LEFT_HALF), (W, H))
    boxes = [(400, 100, 600, 200), (100, 100, 200, 200), (600, 100, 700, 200), (100, 100, 100, 200)]
    assert boxes_fraction_inside(poly, boxes) == pytest.approx([0.5, 1.0, 0.0, 0.0])
    tri = pixel_polygon(((0, 0), (1, 0), (0, 1)), (100, 100))
    assert boxes_fraction_inside(tri, [(0, 0, 100, 100)]) == pytest.approx([0.5])
    assert boxes_fraction_inside(tri, np.zeros((0, 4))).shape == (0,)


def test_coverage_is_over_the_first_box_and_ignores_itself():
    m = coverage_matrix(np.array([[0, 0, 10, 10], [5, 0, 100, 100], [20, 20, 30, 30], [3, 3, 3, 9]]))
    assert m[0, 1] == pytest.approx(0.5) and m[1, 0] == pytest.approx(50 / 9500)
    assert m[0, 2] == 0.0 and m[0, 0] == 0.0
    assert m[3].tolist() == [0, 0, 0, 0]  # an empty box is covered by nothing
    assert coverage_matrix(np.zeros((0, 4))).shape == (0, 0)


def test_zone_polygon_px_is_int32_and_clipped_to_frame():
    px = zone_polygon_px(zone(polygon=[(0, 0), (1, 0), (0.5, 0.5)]), (W, H))
    assert px.dtype == np.int32 and px.shape == (3, 2)
    assert px.tolist() == [[0, 0], [W - 1, 0], [500, 250]]


def test_pile_box_bottom_center_versus_overlap_anchor():
    # A big pile mostly inside a walkway zone, but its bottom edge hangs below the zone line.
    walkway = [(0.2, 0.4), (0.8, 0.4), (0.8, 0.8), (0.2, 0.8)]
    pile = det("static_object", (250, 225, 750, 475))  # 70 % of its area is inside
    by_bottom = zone("bottom", walkway)
    overlap = {"category": "0507", "labels": ["static_object"], "anchor": "overlap"}
    by_overlap = zone("overlap", walkway, [overlap])
    strict = zone("strict", walkway, [{**overlap, "min_overlap": 0.8}])
    got = matcher(by_bottom, by_overlap, strict).match([pile], NOON)
    assert [c.zone_id for c in got] == ["overlap"]
    # A tall object counts under bottom_center once its foot is inside, though most of it is above the zone.
    feet_out = det("static_object", (480, 30, 520, 190))
    assert matcher(by_bottom, by_overlap).match([feet_out], NOON) == []
    feet_in = det("static_object", (480, 60, 520, 220))
    assert [c.zone_id for c in matcher(by_bottom, by_overlap).match([feet_in], NOON)] == ["bottom"]


def test_hours_parse_and_wrap_past_midnight():
    assert parse_hours("08:00-20:00") == (8 * 3600, 20 * 3600)
    night = [parse_hours("22:00-06:00")]
    assert in_hours(night, time(23, 30)) and in_hours(night, time(3, 0)) and in_hours(night, time(22, 0))
    assert not in_hours(night, time(6, 0)) and not in_hours(night, time(12, 0))
    assert in_hours([], time(12, 0))
    assert in_hours([parse_hours("00:00-24:00")], time(23, 59, 59))


# --- validation -----------------------------------------------------------------------------------------


def zone_error(**kw) -> str:
    with pytest.raises(ConfigError) as e:
        validate(ZoneSet, {"zones": [{"id": "box-left", "name": "box", "polygon": FULL, **kw}]}, "cams.yaml")
    msg = str(e.value)
    assert msg.startswith("cams.yaml:") and "zone 'box-left'" in msg
    return msg


RULES = [{"category": "0507", "labels": ["static_object"]}]


def test_bow_tie_polygon_is_rejected_as_self_intersecting():
    msg = zone_error(polygon=[(0, 0), (1, 1), (1, 0), (0, 1)], rules=RULES)
    assert "self-intersecting" in msg and "0.5 0.5" in msg


@pytest.mark.parametrize(
    "polygon, expect",
    [
        ([(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], "degenerate"),
        ([(0.1, 0.1), (0.9, 0.1), (0.9, 0.1000001)], "degenerate"),
        ([(0.1, 0.1), (0.5, 0.5)], "at least 3 points"),
        ([(0, 0), (640, 0), (640, 360)], "outside 0-1"),
        ([(0, 0), (1, 0), (0.5, -0.1)], "point(s) [2] outside 0-1"),
    ],
)
def test_bad_polygons_are_rejected_naming_the_zone(polygon, expect):
    assert expect in zone_error(polygon=polygon, rules=RULES)


def test_closing_point_is_dropped():
    z = zone(polygon=[(0, 0), (1, 0), (1, 1), (0, 0)])
    assert z.polygon == [(0, 0), (1, 0), (1, 1)]


@pytest.mark.parametrize("hours", ["8:00-20:00", "25:00-01:00", "08:00", "08:00-08:00", "20:00-24:30", "8-9"])
def test_bad_active_hours_are_rejected(hours):
    msg = zone_error(rules=[{"category": "0507", "labels": ["x"], "active_hours": ["07:00-09:00", hours]}])
    assert "rules[0].active_hours" in msg and repr(hours) in msg


def test_rule_value_checks():
    assert "min_area 0.5 is larger than max_area 0.2" in zone_error(
        rules=[{"category": "0507", "labels": ["x"], "min_area": 0.5, "max_area": 0.2}]
    )
    assert "rules[0].labels" in zone_error(rules=[{"category": "0507", "labels": []}])
    assert "rules[0].min_score" in zone_error(rules=[{"category": "0507", "labels": ["x"], "min_score": 1.5}])
    assert "rules[0].min_scor" in zone_error(rules=[{"category": "0507", "labels": ["x"], "min_scor": 0.5}])
    assert 'quoted code such as "0507"' in zone_error(rules=[{"category": 507, "labels": ["x"]}])
    assert "different dwell_s" in zone_error(
        rules=[{"category": "0507", "labels": ["a"], "dwell_s": 10}, {"category": "0507", "labels": ["b"]}]
    )
    assert "needs a scene or at least one rule" in zone_error(rules=[])


def test_zone_id_must_be_a_slug_and_unique():
    with pytest.raises(ValidationError, match=r"zone 'box left': id: String should match pattern"):
        zone(zid="box left")
    with pytest.raises(ValidationError, match=r"duplicate zone id 'a' \(zones\[0\] and zones\[2\]\)"):
        ZoneSet(zones=[zone("a"), zone("b"), zone("a")])


def test_unknown_category_names_camera_and_zone(taxonomy):
    zs = ZoneSet(zones=[zone("ok"), zone("box-left", rules=[{"category": "9999", "labels": ["x"]}])])
    with pytest.raises(ConfigError) as e:
        check_zone_set("cam-01", zs, taxonomy)
    assert str(e.value).startswith("camera cam-01, zone box-left: unknown category '9999'")
    check_zone_set("cam-01", ZoneSet(zones=[zone("ok")]), taxonomy)  # known codes pass


def test_disabled_zones_are_checked_too(taxonomy):
    zs = ZoneSet(zones=[zone("off", enabled=False, rules=[{"category": "0000", "labels": ["x"]}])])
    with pytest.raises(ConfigError, match="zone off: unknown category '0000'"):
        check_zone_set("cam-02", zs, taxonomy)


def test_dwell_defaults_to_the_category(taxonomy):
    assert Rule(category="0102", labels=["x"]).dwell(taxonomy) == taxonomy.get("0102").dwell_s == 120
    assert Rule(category="0102", labels=["x"], dwell_s=10).dwell(taxonomy) == 10
    z = zone(rules=[{"category": "0507", "labels": ["a"], "dwell_s": 0}])
    assert z.dwell("0507", taxonomy) == 0
    with pytest.raises(KeyError):
        z.dwell("0102", taxonomy)


def test_zone_set_loads_from_yaml(tmp_path):
    path = tmp_path / "zones.yaml"
    path.write_text(
        """
version: 2
reference_image: refs/cam-01.jpg
zones:
  - id: box-left
    name: 配电箱旁人行道
    polygon: [[0.1, 0.5], [0.6, 0.5], [0.6, 0.95], [0.1, 0.95]]
    rules:
      - category: "0507"
        labels: [static_object, suitcase]
        exclude_labels: [person]
        min_area: 0.001
        max_area: 0.2
        dwell_s: 10
        active_hours: ["22:00-06:00"]
  - id: old
    name: 旧区域
    enabled: false
    polygon: [[0, 0], [1, 0], [1, 1]]
    rules: [{category: "0102", labels: [static_object], anchor: overlap, min_overlap: 0.6}]
""",
        encoding="utf-8",
    )
    zs = load_yaml(ZoneSet, path)
    assert zs.version == 2 and [z.id for z in zs.zones] == ["box-left", "old"]
    assert zs.get("box-left").rules[0].exclude_labels == ["person"]
    assert zs.get("old").enabled is False and zs.get("old").rules[0].anchor == "overlap"
    bow_tie = path.read_text(encoding="utf-8").replace("[0.6, 0.95]", "[0.1, 0.95], [0.6, 0.95]")
    path.write_text(bow_tie, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"zones\.yaml[\s\S]*zones\[0\].*'box-left': polygon: self-int"):
        load_yaml(ZoneSet, path)


# --- matching -------------------------------------------------------------------------------------------


def test_labels_score_and_area_filters():
    z = zone(
        rules=[
            {
                "category": "0102",
                "labels": ["suitcase", "backpack"],
                "min_score": 0.5,
                "min_area": 0.01,
                "max_area": 0.1,
            }
        ]
    )
    box = (100, 100, 200, 200)  # 10000 px² = 2 % of the frame
    dets = [
        det("suitcase", box),
        det("backpack", (300, 100, 400, 200), score=0.5),  # at the threshold: kept
        det("person", box),  # label not in the rule
        det("suitcase", box, score=0.49),
        det("suitcase", (100, 100, 120, 120)),  # 0.08 %: too small (far away or noise)
        det("suitcase", (0, 0, 400, 200)),  # 16 %: too big for this zone
    ]
    got = matcher(z).match(dets, NOON)
    assert [c.detection for c in got] == dets[:2]
    assert all(c == Candidate("z1", "0102", c.detection) for c in got)


def test_area_is_a_fraction_of_the_frame():
    z = zone(rules=[{"category": "0507", "labels": ["static_object"], "min_area": 0.01}])
    d = det("static_object", (0, 0, 50, 50))  # 2500 px²
    assert matcher(z, size=(W, H)).match([d], NOON) == []  # 0.5 % of 1000x500
    assert len(matcher(z, size=(200, 200)).match([d], NOON)) == 1  # 6 % of 200x200


def test_static_object_overlapping_a_person_is_excluded():
    z = zone(rules=[{"category": "0507", "labels": ["static_object"], "exclude_labels": ["person"]}])
    standing = det("static_object", (100, 100, 140, 300), model="stationary")
    person = det("person", (95, 90, 145, 305), score=0.6, model="yolov8n")
    bag = det("static_object", (300, 250, 360, 300), model="stationary")
    touching = det("static_object", (130, 250, 230, 300), model="stationary")  # person covers 10 % of it
    got = matcher(z).match([standing, person, bag, touching], NOON)
    assert [c.detection for c in got] == [bag, touching]
    # Without the exclusion the standing person is a candidate.
    plain = zone(rules=[{"category": "0507", "labels": ["static_object"]}])
    assert len(matcher(plain).match([standing, person], NOON)) == 1


def test_exclude_overlap_threshold():
    def rule(th):
        return [{"category": "0507", "labels": ["static_object"], "exclude_labels": ["person"], **th}]

    obj = det("static_object", (0, 0, 100, 100))
    person = det("person", (60, 0, 200, 100))  # covers 40 % of obj
    assert matcher(zone(rules=rule({"exclude_overlap": 0.4}))).match([obj, person], NOON) == []
    assert len(matcher(zone(rules=rule({"exclude_overlap": 0.5}))).match([obj, person], NOON)) == 1


def test_disabled_zone_yields_nothing():
    d = det("static_object", (100, 100, 200, 200))
    assert matcher(zone(enabled=False)).match([d], NOON) == []
    assert len(matcher(zone(enabled=True)).match([d], NOON)) == 1


def test_active_hours_including_wrap_past_midnight():
    obj = {"labels": ["static_object"]}
    z_day = zone("day", rules=[{"category": "0508", **obj, "active_hours": ["08:00-20:00"]}])
    night_and_lunch = ["22:00-06:00", "12:00-13:00"]
    z_night = zone("night", rules=[{"category": "0507", **obj, "active_hours": night_and_lunch}])
    m = matcher(z_day, z_night)
    d = [det("static_object", (100, 100, 200, 200))]

    def zones_at(h, mi=0, tz=None):
        return [c.zone_id for c in m.match(d, datetime(2024, 5, 1, h, mi, tzinfo=tz))]

    assert zones_at(7, 59) == []
    assert zones_at(8) == ["day"]
    assert zones_at(12, 30) == ["day", "night"]
    assert zones_at(19, 59) == ["day"]
    assert zones_at(20) == []
    assert zones_at(23, 30) == ["night"]
    assert zones_at(0) == ["night"]
    assert zones_at(5, 59) == ["night"]
    assert zones_at(6) == []
    # An aware time is judged by its own wall clock (the camera's zone), not converted.
    assert zones_at(23, 30, tz=timezone(timedelta(hours=8))) == ["night"]


def test_detection_in_several_zones_is_one_candidate_per_zone():
    left = zone("left", LEFT_HALF)
    both = zone(
        "both",
        FULL,
        [
            {"category": "0507", "labels": ["static_object"]},
            {"category": "0507", "labels": ["static_object", "suitcase"], "min_score": 0.1},
            {"category": "0102", "labels": ["static_object"]},
        ],
    )
    d_left = det("static_object", (100, 100, 200, 200))
    d_right = det("static_object", (700, 100, 800, 200))
    got = [(c.zone_id, c.category, c.detection) for c in matcher(left, both).match([d_left, d_right], NOON)]
    # Three rules accept each object in "both": it is one candidate there, the first rule's category.
    assert got == [("left", "0507", d_left), ("both", "0507", d_left), ("both", "0507", d_right)]


def test_same_zone_on_another_frame_size():
    z = zone(polygon=LEFT_HALF)
    assert len(matcher(z, size=(1920, 1080)).match([det("static_object", (800, 500, 900, 600))], NOON)) == 1
    assert matcher(z, size=(1280, 720)).match([det("static_object", (800, 500, 900, 600))], NOON) == []
    with pytest.raises(ValueError, match="frame size"):
        matcher(z, size=(0, 720))


def test_mask_drops_detections_standing_in_it_in_every_zone():
    """A mask never counts: a bag whose bottom-centre is in it is no candidate, in any zone."""
    masks = [{"id": "terrace", "name": "店铺外摆", "polygon": [[0, 0.5], [0.5, 0.5], [0.5, 1], [0, 1]]}]
    zs = ZoneSet(zones=[zone("a"), zone("b")], masks=masks)
    m = ZoneMatcher(zs, (W, H))
    inside, outside = (
        det("static_object", (10, H - 40, 40, H - 1)),
        det("static_object", (W - 40, H - 40, W - 1, H - 1)),
    )
    got = m.match([inside, outside], datetime(2024, 5, 1, 12, 0))
    assert [(c.zone_id, c.detection) for c in got] == [("a", outside), ("b", outside)]


def test_mask_ids_are_unique_with_zone_ids_and_masks_are_validated():
    with pytest.raises(ValidationError, match=r"duplicate zone id 'a' \(zones\[0\] and masks\[0\]\)"):
        ZoneSet(zones=[zone("a")], masks=[{"id": "a", "polygon": FULL}])
    with pytest.raises(ValidationError, match=r"zone 'm1': polygon: self-intersecting"):
        ZoneSet(masks=[{"id": "m1", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}])
