"""The street truth file stays usable: its zones are a valid worker config, its violations lie in their zones."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import REPO
from shapely.geometry import Point, Polygon

from xuncha.config.worker import WorkerConfig, resolve_config

TRUTH = REPO / "bench" / "scenarios" / "street" / "verkada_street_dev.truth.yaml"


def test_street_truth_zones_are_a_valid_camera_and_violations_sit_in_their_zones(tmp_path: Path) -> None:
    truth = yaml.safe_load(TRUTH.read_text(encoding="utf-8"))
    zones = [{k: z[k] for k in ("id", "name", "scene", "polygon")} for z in truth["zones"]]
    cam = {"id": "street", "source": truth["clip"], "zones": zones}
    resolve_config(WorkerConfig.model_validate({"data_dir": str(tmp_path), "cameras": [cam]}), tmp_path, str(TRUTH))
    polygons = {z["id"]: Polygon(z["polygon"]) for z in truth["zones"]}
    w, h = truth["size"]
    for v in truth["violations"]:
        x1, y1, x2, y2 = v["box"]
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, v["id"]
        # The scenes anchor on the box's bottom centre.
        assert polygons[v["zone"]].intersects(Point((x1 + x2) / 2 / w, y2 / h)), v["id"]
