"""What a re-check adds to a camera's sample, beside what the sample itself costs.

The re-check reuses the sample's zone candidates, so its cost is `RecheckDesk.observe`: a box
comparison per candidate on every sample, plus a database write on a counted sample and one scene
JPEG at the verdict. The baseline, measured in the same run on the same frames, is the sample's
own work (ONNX inference of yolox_nano_coco + stationary model + zone match). Needs ../shared/data.

    .venv/bin/xuncha bench recheck-cost [--samples 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
from kombu import Connection, Producer

from xuncha.clues.contracts import CameraRef, CategoryRef, ZoneRef
from xuncha.clues.dispatch import RecheckRequest, cases_exchange, recheck_queue
from xuncha.clues.evidence import EvidenceStore
from xuncha.confirm import ConfirmParams
from xuncha.detector.cards import load_detector
from xuncha.detector.stationary import StationaryObjectModel
from xuncha.recheck.core import RecheckParams
from xuncha.recheck.desk import RecheckDesk
from xuncha.types import Frame
from xuncha.zones.match import ZoneMatcher, zone_polygon_px
from xuncha.zones.model import ZoneSet

CLIP = Path(__file__).resolve().parents[4] / "shared" / "data" / "footage" / "sidewalk_bag_left.avi"
ZONES = ZoneSet.model_validate(
    {
        "zones": [
            {
                "id": "box",
                "name": "配电箱旁",
                "polygon": [[0.55, 0.58], [1, 0.58], [1, 1], [0.55, 1]],
                "rules": [{"category": "0507", "labels": ["static_object", "suitcase"], "anchor": "overlap"}],
            }
        ]
    }
)


def frames(n: int) -> list[Frame]:
    cap = cv2.VideoCapture(str(CLIP))
    out, i = [], 0
    while len(out) < n and (got := cap.read())[0]:
        if i % 15 == 0:  # a sample every 0.5 s of video
            out.append(Frame("cam-1", 1_800_000_000 + i / 30, got[1]))
        i += 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=60)
    args = ap.parse_args()
    shots = frames(args.samples)
    det = load_detector("yolox_nano_coco", threads=1)
    stationary = StationaryObjectModel()
    matcher = ZoneMatcher(ZONES, shots[0].size)
    same = ConfirmParams().same_place
    sample_s, cands = [], []
    for f in shots:
        t = time.perf_counter()
        dets = det.detect([f.image])[0] + stationary.update(f.image, f.ts)
        cands.append(matcher.match(dets, datetime.fromtimestamp(f.ts, UTC)))
        sample_s.append(time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as d:
        desk = RecheckDesk(f"sqlite:///{d}/r.sqlite", "memory://", "bench", EvidenceStore(Path(d) / "ev"),
                           RecheckParams(samples=3, span_s=10, within_h=1))  # fmt: skip
        req = RecheckRequest(
            request_id="case-1:r1", case_id="case-1", clue_id="c1", camera=CameraRef(id="cam-1", name="cam-1"),
            zone=ZoneRef(id="box", name="配电箱旁"), category=CategoryRef(code="0507", name="乱堆物堆料"),
            box=(450, 364, 503, 416), frame_size=(720, 480), found_at=datetime.fromtimestamp(shots[0].ts, UTC),
            handled_at=datetime.fromtimestamp(shots[0].ts, UTC),
        )  # fmt: skip
        with Connection("memory://") as conn:  # the request arrives as it would from the review service
            Producer(conn).publish(
                req.model_dump_json(),
                exchange=cases_exchange(),
                routing_key="recheck.cam-1",
                declare=[recheck_queue("cam-1")],
            )
        desk.take_now({"cam-1"})
        polygon = lambda z: zone_polygon_px(ZONES.get(z), shots[0].size)  # noqa: E731
        observe_s = []
        for f, c in zip(shots, cands, strict=True):
            t = time.perf_counter()
            desk.observe(f, datetime.fromtimestamp(f.ts, UTC), c, matcher, same, polygon)
            observe_s.append(time.perf_counter() - t)
        finished = not desk.cameras()
        desk.engine.dispose()
    base = statistics.median(sample_s)
    print(f"{len(shots)} samples of {CLIP.name}; re-check finished: {finished}")
    print(f"  baseline, the sample itself (inference + stationary + zones): median {base * 1000:.1f} ms")
    med, top = statistics.median(observe_s), max(observe_s)
    print(f"  re-check per sample: median {med * 1000:.3f} ms, max {top * 1000:.1f} ms")
    total = sum(observe_s)
    print(f"  re-check, whole window: {total * 1000:.1f} ms = {total / base:.2f} x one sample")
    return 0


if __name__ == "__main__":
    sys.exit(main())
