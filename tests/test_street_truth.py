"""The CVAT parser on real jamcam xml, and the street truth files load and agree with it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xuncha.bench.cvat import clip_truth, parse_cvat
from xuncha.bench.precision import SHARED_DATA

STREET = Path(__file__).resolve().parents[1] / "bench" / "scenarios" / "street"
XML = SHARED_DATA / "footage" / "street" / "jamcam_annotated" / "xml_files"
BLACKFRIARS = XML / "17_2019-07-02_09-01-45.122302_00001.03601.xml"

needs_data = pytest.mark.skipif(not BLACKFRIARS.is_file(), reason="shared street footage not present")


@needs_data
def test_parse_blackfriars_parked_cars() -> None:
    v = parse_cvat(BLACKFRIARS.read_bytes())
    assert v.size == (352, 288) and v.frames == 234
    parked = v.parked()
    assert [t.id for t in parked] == [str(i) for i in range(1, 10)]  # the README's 9 parked cars
    assert all(t.type == "car" and len(t.boxes) == 234 for t in parked)
    assert parked[0].median_box() == pytest.approx((295.01, 253.32, 352.0, 288.0))
    # stopped in traffic is not parked: track 10 waits all clip long
    queue = next(t for t in v.tracks if t.id == "10")
    assert not queue.parked and all(b.stopped for b in queue.boxes)


PARKED_CAR = '<attribute name="parked">true</attribute><attribute name="type">car</attribute>'


def test_parse_drops_outside_boxes_and_majority_parked() -> None:
    xml = f"""<annotations><meta><task><name>x</name><size>3</size>
      <original_size><width>10</width><height>8</height></original_size></task></meta>
      <track id="0" label="vehicle">
        <box frame="1" outside="0" xtl="1" ytl="2" xbr="3" ybr="4">{PARKED_CAR}</box>
        <box frame="0" outside="0" xtl="0" ytl="2" xbr="2" ybr="4">{PARKED_CAR}</box>
        <box frame="2" outside="1" xtl="5" ytl="2" xbr="7" ybr="4"><attribute name="parked">false</attribute></box>
      </track>
      <track id="1" label="vehicle">
        <box frame="0" outside="0" xtl="0" ytl="0" xbr="1" ybr="1"><attribute name="parked">true</attribute></box>
        <box frame="1" outside="0" xtl="0" ytl="0" xbr="1" ybr="1"><attribute name="parked">false</attribute></box>
      </track></annotations>"""
    v = parse_cvat(xml)
    a, b = v.tracks
    assert [x.frame for x in a.boxes] == [0, 1] and a.parked and a.type == "car"
    assert not b.parked  # half is not most
    t = clip_truth(v, "c.mp4", 1, 1)
    assert [p["id"] for p in t["parked"]] == ["t0"] and t["parked"][0]["end_s"] == 1
    assert [s["t"] for s in t["samples"]] == [0, 1, 2]
    assert [x["id"] for x in t["samples"][0]["traffic"]] == ["t1"] and t["samples"][2]["traffic"] == []


def test_parse_rejects_non_cvat() -> None:
    with pytest.raises(ValueError):
        parse_cvat("<annotations/>")


@needs_data
def test_jamcam_truth_files_are_the_parser_output() -> None:
    suite = yaml.safe_load((STREET / "jamcam.truth.yaml").read_text(encoding="utf-8"))
    assert len(suite["clips"]) == 6 and suite["dwell_s"] < 10
    for clip in suite["clips"]:
        path = STREET / clip["truth"]
        truth = yaml.safe_load(path.read_text(encoding="utf-8"))
        xml = next(XML.glob(f"{path.name.split('_')[0]}_*.xml"))
        assert truth == clip_truth(parse_cvat(xml.read_bytes()), truth["clip"], 25, 1)
        assert (SHARED_DATA / truth["clip"]).is_file()
        parked = {p["id"] for p in truth["parked"]}
        for zone_id, ids in (clip["violations"] or {}).items():
            assert zone_id in {z["id"] for z in clip["zones"]} and set(ids) <= parked
        assert parked == {i for ids in (clip["violations"] or {}).values() for i in ids}  # every parked one scored
        for z in clip["zones"]:
            assert all(0 <= c <= 1 for p in z["polygon"] for c in p)


def test_muenster_truth_is_valid() -> None:
    from xuncha.zones.scenes import load_scenes

    scenes = {s.id for s in load_scenes().scenes}
    stills = yaml.safe_load((STREET / "muenster.truth.yaml").read_text(encoding="utf-8"))["stills"]
    assert len(stills) == 21 and len({s["file"] for s in stills}) == 21
    for s in stills:
        zones = {z["id"]: z for z in s["zones"]}
        assert all(z["scene"] in scenes and len(z["polygon"]) >= 3 for z in zones.values())
        for v in s.get("violations", []):
            x1, y1, x2, y2 = v["box"]
            assert v["zone"] in zones and 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1, (s["file"], v)
            assert v.get("count", 1) >= 1
        if (SHARED_DATA / "stills" / "muenster").is_dir():
            assert (SHARED_DATA / "stills" / "muenster" / s["file"]).is_file()
