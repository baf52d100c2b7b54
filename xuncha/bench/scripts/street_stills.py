"""Vehicle, bicycle and stall scenes on short real street clips (jamcam) and webcam stills (Münster).

jamcam: each clip of `bench/scenarios/street/jamcam.truth.yaml` through the real worker (`Worker.run(once=True)`,
car_parking with the zone's dwell_s 6, a sample every 1 s: a 10 s clip cannot hold the 300 s default dwell);
its clues are matched to the CVAT `parked` vehicles by `xuncha.bench.evaluate.match`. From the same run: the
per-sample detection recall of parked vehicles (any car/truck/bus/motorcycle box >= the scene's min_score,
IoU >= 0.3, anywhere in the picture), the candidates on annotated traffic, and "naive" (every candidate
sighting a clue).

muenster: each still of `bench/scenarios/street/muenster.truth.yaml` through each detector; a candidate is a
detection of a zone's scene labels at the scene's min_score whose bottom-centre is in the zone. Recall counts
objects (a bicycle row counts its estimated bicycles, found = candidates centred in the row's box); naive =
every detection of the scene's labels anywhere in the picture (what the zone removes). A still has no time
series: the stationary model and the dwell cannot run, so this is detection inside zones only.

    .venv/bin/xuncha bench street-stills --suite jamcam|muenster [--models ...]
    .venv/bin/xuncha bench street-stills --write-truth   # regenerate jamcam/*.truth.yaml
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml

from xuncha.bench.cvat import clip_truth, parse_cvat
from xuncha.bench.evaluate import Clue, MatchParams, TruthViolation, match, metrics
from xuncha.bench.precision import SHARED_DATA
from xuncha.config.worker import CameraConfig, WorkerConfig, resolve_config
from xuncha.detector.cards import load_detector
from xuncha.train.suite import START
from xuncha.types import BoxXYXY, Detection, Frame, iou
from xuncha.worker import Worker
from xuncha.zones.match import Candidate
from xuncha.zones.scenes import load_scenes

STREET = Path(__file__).resolve().parents[3] / "bench" / "scenarios" / "street"
JAMCAM = STREET / "jamcam.truth.yaml"
MUENSTER = STREET / "muenster.truth.yaml"
XML = SHARED_DATA / "footage" / "street" / "jamcam_annotated" / "xml_files"
STILLS = SHARED_DATA / "stills" / "muenster"
MODELS = ("yolox_nano_coco", "yolov8n_coco_int8", "yolo11n_coco_int8_320")
VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})
MATCH = MatchParams()


def write_truth() -> None:
    for xml in sorted(XML.glob("*.xml")):
        task, name = xml.stem.split("_", 1)
        t = clip_truth(parse_cvat(xml.read_bytes()), f"footage/street/jamcam_annotated/videos/{name}.mp4", 25, 1)
        out = STREET / "jamcam" / f"{task}_{name[-5:]}.truth.yaml"
        head = f"# Generated from xml_files/{xml.name} by xuncha/bench/cvat.py"
        head += " (xuncha bench street-stills --write-truth); do not edit.\n"
        out.write_text(head + yaml.safe_dump(t, sort_keys=False, default_flow_style=None, width=200), encoding="utf-8")
        print(f"{out.relative_to(STREET)}: {len(t['parked'])} parked")


class Samples:
    """The worker's observer: per sample, its detections and candidates."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, list[Detection], list[Candidate]]] = []

    def frame(self, cam: CameraConfig, frame: Frame) -> None:
        pass

    def matched(
        self, cam: CameraConfig, frame: Frame, detections: Sequence[Detection], candidates: Sequence[Candidate]
    ) -> None:
        self.seen.append((frame.offset, list(detections), list(candidates)))


def run_clip(clip: dict, truth: dict, model: str, work: Path, dwell_s: float, interval_s: float):
    zones = [{k: z[k] for k in ("id", "name", "scene", "polygon")} | {"dwell_s": dwell_s} for z in clip["zones"]]
    cam = {
        "id": "jamcam",
        "source": str(SHARED_DATA / truth["clip"]),
        "sample_interval_s": interval_s,
        "start_time": START.isoformat(),
        "zones": zones,
    }
    cfg = WorkerConfig.model_validate({"data_dir": str(work), "detectors": {"models": [model]}, "cameras": [cam]})
    cfg, taxonomy = resolve_config(cfg, work, str(JAMCAM))
    worker = Worker(cfg, taxonomy)
    obs = Samples()
    worker.observer = obs
    summary = worker.run(once=True)
    if summary.failed_cameras:
        sys.exit(f"{model}: {summary.failed_cameras}")
    t0 = START.timestamp()
    clues = [
        Clue(e.zone.id, e.category.code, e.box, e.last_seen.timestamp() - t0, e.first_seen.timestamp() - t0)
        for e in summary.events
        if e.kind == "opened"
    ]
    return clues, obs.seen


def jamcam(models: Sequence[str]) -> None:
    suite = yaml.safe_load(JAMCAM.read_text(encoding="utf-8"))
    min_score = min(r.min_score for r in load_scenes().get("car_parking").rules)
    print(
        f"jamcam: car_parking, dwell_s {suite['dwell_s']}, a sample every {suite['interval_s']} s; truth {JAMCAM.name}"
    )
    print("| clip / zone / model / system | clues | tp | dup | fp | violations | precision | recall |")
    print("|---|---|---|---|---|---|---|---|")
    recall: dict[str, list[int]] = {m: [0, 0] for m in models}
    traffic: dict[str, list[int]] = {m: [0, 0, 0] for m in models}  # candidates on traffic, other, traffic seen
    for clip in suite["clips"]:
        truth = yaml.safe_load((STREET / clip["truth"]).read_text(encoding="utf-8"))
        parked = {p["id"]: p for p in truth["parked"]}
        at = {s["t"]: s["traffic"] for s in truth["samples"]}
        for model in models:
            with tempfile.TemporaryDirectory() as work:
                clues, seen = run_clip(clip, truth, model, Path(work), suite["dwell_s"], suite["interval_s"])
            for t, dets, cands in seen:
                vehicles = [d for d in dets if d.label in VEHICLES and d.score >= min_score]
                for p in parked.values():
                    if p["start_s"] <= t <= p["end_s"]:
                        recall[model][1] += 1
                        recall[model][0] += any(iou(d.box, tuple(p["box"])) >= 0.3 for d in vehicles)
                moving = at.get(round(t, 2), [])
                traffic[model][2] += len(moving)
                for c in cands:
                    if any(iou(c.detection.box, tuple(v["box"])) >= 0.3 for v in moving):
                        traffic[model][0] += 1
                    elif not any(iou(c.detection.box, tuple(p["box"])) >= 0.3 for p in parked.values()):
                        traffic[model][1] += 1
            naive = [Clue(c.zone_id, c.category, c.detection.box, t, t) for t, _, cands in seen for c in cands]
            for c in clues:  # which vehicle each clue is on: a parked one, or traffic queueing at the sample
                on = [v["id"] for v in parked.values() if iou(c.box, tuple(v["box"])) >= 0.3] or [
                    f"{v['id']} ({v['type']}, stopped {v['stopped']})"
                    for v in at.get(round(c.open_s, 2), [])
                    if iou(c.box, tuple(v["box"])) >= 0.3
                ]
                box = ", ".join(f"{v:.0f}" for v in c.box)
                where = f"{clip['truth']} {model}: clue {c.scenario} ({box})"
                print(f"  {where} opened {c.open_s:.0f} s on {on or 'nothing annotated'}")
            for zone in clip["zones"]:
                ids = (clip["violations"] or {}).get(zone["id"], [])
                truth_v = [
                    TruthViolation(zone["id"], i, "0505", tuple(parked[i]["box"]), parked[i]["start_s"], None)
                    for i in ids
                ]
                for system, found in (("worker", clues), ("naive", naive)):
                    s = metrics([match([c for c in found if c.scenario == zone["id"]], truth_v)])
                    f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
                    probe = " (probe)" if zone.get("probe") else ""
                    print(
                        f"| {Path(clip['truth']).stem.split('.')[0]} / {zone['id']}{probe} / {model} / {system} | "
                        f"{s.clues} | {s.tp} | {s.dup} | {s.fp} | {s.violations} | {f(s.precision)} | {f(s.recall)} |"
                    )
    print(
        "\n| model | parked-vehicle detections per sample (IoU >= 0.3) | recall"
        " | candidates on annotated traffic | other false candidates | traffic boxes seen |"
    )
    print("|---|---|---|---|---|---|")
    for m in models:
        hit, n = recall[m]
        print(f"| {m} | {hit} / {n} | {hit / n:.2f} | {traffic[m][0]} | {traffic[m][1]} | {traffic[m][2]} |")


def inside(poly: np.ndarray, x: float, y: float) -> bool:
    return cv2.pointPolygonTest(poly, (x, y), False) >= 0


def muenster(models: Sequence[str], evidence: Path | None) -> None:
    suite = yaml.safe_load(MUENSTER.read_text(encoding="utf-8"))
    scenes = load_scenes()
    # scene -> [objects, found, candidates, candidates on a violation, naive detections, naive on a violation]
    totals: dict[tuple[str, str], list[int]] = {}
    for model in models:
        det = load_detector(model, conf=0.2)
        for still in suite["stills"]:
            if not still["zones"]:
                continue
            image = cv2.imread(str(STILLS / still["file"]))
            h, w = image.shape[:2]
            px = lambda b, w=w, h=h: (b[0] * w, b[1] * h, b[2] * w, b[3] * h)  # noqa: E731
            dets = det.detect_one(image)
            for zone in still["zones"]:
                scene = scenes.get(zone["scene"])
                labels = {lab for r in scene.rules for lab in r.labels if lab != "static_object"}
                score = min(r.min_score for r in scene.rules)
                poly = np.array([(x * w, y * h) for x, y in zone["polygon"]], np.float32)
                mine = [v for v in still.get("violations", []) if v["zone"] == zone["id"]]
                pool = [d for d in dets if d.label in labels and d.score >= score]
                cands = [d for d in pool if inside(poly, (d.box[0] + d.box[2]) / 2, d.box[3])]
                t = totals.setdefault((zone["scene"], model), [0] * 6)

                def on(d: Detection, v: dict, px=px) -> bool:
                    b: BoxXYXY = px(v["box"])  # type: ignore[assignment]
                    if v.get("group"):
                        cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
                        return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]
                    return MATCH.overlaps(d.box, b)

                for v in mine:
                    n = v.get("count", 1)
                    t[0] += n
                    t[1] += min(n, sum(on(d, v) for d in cands))
                t[2] += len(cands)
                t[3] += sum(any(on(d, v) for v in mine) for d in cands)
                t[4] += len(pool)
                t[5] += sum(any(on(d, v) for v in mine) for d in pool)
                if evidence is not None and model == models[0]:
                    draw(image, poly, [px(v["box"]) for v in mine], cands)
            if evidence is not None and model == models[0] and still.get("violations"):
                evidence.mkdir(parents=True, exist_ok=True)
                small = cv2.resize(image, (640, 360))
                cv2.imwrite(
                    str(evidence / f"{Path(still['file']).stem[:25]}.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 70]
                )
    print(f"muenster: {sum(bool(s['zones']) for s in suite['stills'])} stills with zones; truth {MUENSTER.name}")
    print("| scene / model | objects | found | recall | candidates | precision | naive detections | naive precision |")
    print("|---|---|---|---|---|---|---|---|")
    for (scene, model), (n, found, c, ok, nv, nok) in sorted(totals.items()):
        f = lambda a, b: "-" if not b else f"{a / b:.2f}"  # noqa: E731
        print(f"| {scene} / {model} | {n} | {found} | {f(found, n)} | {c} | {f(ok, c)} | {nv} | {f(nok, nv)} |")


def draw(image: np.ndarray, poly: np.ndarray, truth: list[tuple], cands: list[Detection]) -> None:
    """Evidence: zone yellow, truth green, candidates red with label and score."""
    cv2.polylines(image, [poly.astype(np.int32)], True, (0, 255, 255), 2)
    for b in truth:
        cv2.rectangle(image, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), (0, 255, 0), 2)
    for d in cands:
        x1, y1, x2, y2 = (int(v) for v in d.box)
        cv2.rectangle(image, (x1, y1), (x2, y2), (0, 0, 255), 2)
        cv2.putText(image, f"{d.label} {d.score:.2f}", (x1, max(12, y1 - 4)), 0, 0.6, (0, 0, 255), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=("jamcam", "muenster"))
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--evidence", type=Path, help="muenster: save pictures (first model) to this folder")
    ap.add_argument("--write-truth", action="store_true", help="regenerate jamcam/*.truth.yaml from the CVAT xml")
    args = ap.parse_args()
    if args.write_truth:
        write_truth()
    elif args.suite == "jamcam":
        jamcam(args.models)
    elif args.suite == "muenster":
        muenster(args.models, args.evidence)
    else:
        ap.error("--suite or --write-truth")


if __name__ == "__main__":
    main()
