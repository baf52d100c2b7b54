"""Sub-district (镇街) lookup from GeoJSON and the camera's own region taking precedence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xuncha.yamlfile import ConfigError
from xuncha.zones import Place, Region, RegionIndex, resolve_place, resolve_region

POINT = {"type": "Point", "coordinates": [0, 0]}
FLAT = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]}
EXAMPLE = Path(__file__).resolve().parents[1] / "xuncha" / "configs" / "regions_example.geojson"


@pytest.fixture(scope="module")
def index() -> RegionIndex:
    return RegionIndex.from_geojson(EXAMPLE)


def square(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def write(tmp_path, features, name="regions.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def feature(geometry, **props):
    return {"type": "Feature", "properties": props, "geometry": geometry}


def test_example_file_lookup_inside_and_outside(index):
    assert len(index) == 4
    assert index.lookup(113.26, 23.13) == Region(code="440199001", name="示例一街道")
    assert index.lookup(113.28, 23.13).code == "440199002"
    assert index.lookup(113.27, 23.11).code == "440199003"
    assert index.lookup(113.305, 23.125).code == "440199004"  # first part of a MultiPolygon
    assert index.lookup(113.305, 23.145).code == "440199004"  # second part
    assert index.lookup(113.305, 23.135) is None  # between the two parts
    assert index.lookup(114.0, 22.5) is None


def test_shared_border_goes_to_the_first_region_in_file_order(index):
    assert index.lookup(113.27, 23.13).code == "440199001"
    assert index.lookup(113.26, 23.12).code == "440199001"  # border of 001 and 003


def test_own_region_wins_over_location(index):
    own = Region(code="440106011", name="配置街道")
    assert resolve_region(own, (113.26, 23.13), index) == own
    assert resolve_region(None, (113.26, 23.13), index).code == "440199001"
    assert resolve_region(None, (114.0, 22.5), index) is None
    assert resolve_region(None, None, index) is None
    assert resolve_region(None, (113.26, 23.13), None) is None
    assert resolve_region(own, None, None) == own


def test_custom_property_keys(tmp_path):
    path = write(tmp_path, [feature(square(0, 0, 1, 1), XZQDM=440106001, XZQMC="甲街道")])
    idx = RegionIndex.from_geojson(path, code_key="XZQDM", name_key="XZQMC")
    assert idx.lookup(0.5, 0.5) == Region(code="440106001", name="甲街道")
    with pytest.raises(ConfigError, match=r"features\[0\]: missing properties \['code', 'name'\]"):
        RegionIndex.from_geojson(path)


def test_self_touching_boundary_is_repaired(tmp_path):
    bow = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    idx = RegionIndex.from_geojson(write(tmp_path, [feature(bow, code="1", name="a")]))
    assert idx.lookup(0.2, 1.0).code == "1" and idx.lookup(1.8, 1.0).code == "1"
    assert idx.lookup(1.0, 0.2) is None


@pytest.mark.parametrize(
    "features, expect",
    [
        (
            [feature(square(0, 0, 1, 1), code="1", name="a"), feature(POINT, code="2", name="b")],
            r"features\[1\] \(2\): geometry must be a \(Multi\)Polygon, got Point",
        ),
        ([feature(square(0, 0, 1, 1), code="1")], r"features\[0\]: missing properties \['name'\]"),
        (
            [feature({"type": "Polygon", "coordinates": [[[0, 0], [1]]]}, code="1", name="a")],
            r"features\[0\] \(1\): bad coordinates",
        ),
        ([feature(FLAT, code="1", name="a")], r"features\[0\] \(1\): polygon is empty"),
        ([{"type": "Polygon"}], r"features\[0\]: not a GeoJSON Feature"),
        ([], "the FeatureCollection has no features"),
    ],
)
def test_bad_features_name_file_and_index(tmp_path, features, expect):
    path = write(tmp_path, features, "bad_regions.geojson")
    with pytest.raises(ConfigError, match=r"bad_regions\.geojson: " + expect):
        RegionIndex.from_geojson(path)


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.geojson: file not found"):
        RegionIndex.from_geojson(tmp_path / "nope.geojson")
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.geojson: not valid JSON"):
        RegionIndex.from_geojson(broken)
    single = tmp_path / "single.geojson"
    single.write_text(json.dumps(feature(square(0, 0, 1, 1), code="1", name="a")), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"single\.geojson: expected a GeoJSON FeatureCollection"):
        RegionIndex.from_geojson(single)


def test_nested_levels_give_town_community_and_grid(tmp_path):
    path = write(
        tmp_path,
        [
            feature(square(0, 0, 4, 4), code="T1", name="甲街道"),
            feature(square(0, 0, 2, 2), code="C1", name="一社区", level="community"),
            feature(square(0, 0, 1, 1), code="G1", name="一网格", level="grid"),
            feature(square(4, 0, 8, 4), code="T2", name="乙街道"),
        ],
    )
    idx = RegionIndex.from_geojson(path)
    assert idx.locate(0.5, 0.5) == Place(
        Region(code="T1", name="甲街道"), Region(code="C1", name="一社区"), Region(code="G1", name="一网格")
    )
    assert idx.locate(3, 3) == Place(town=Region(code="T1", name="甲街道"))
    assert idx.lookup(0.5, 0.5).code == "T1"
    # A camera's own 镇街 wins; the lookup's 社区/网格 are kept only when it agrees on the 镇街.
    assert resolve_place(Region(code="T1", name="甲街道"), (0.5, 0.5), idx).grid.code == "G1"
    assert resolve_place(Region(code="T2", name="乙街道"), (0.5, 0.5), idx) == Place(
        town=Region(code="T2", name="乙街道")
    )
    bad = write(tmp_path, [feature(square(0, 0, 1, 1), code="X", name="x", level="county")], "bad.geojson")
    with pytest.raises(ConfigError, match=r"features\[0\] \(X\): level must be one of"):
        RegionIndex.from_geojson(bad)
