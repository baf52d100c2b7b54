"""`xuncha demo`: the worker end to end on embedded defaults, no cameras or servers needed."""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path

from xuncha.clues.contracts import ClueEvent
from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.demo_clip import render_demo_clip
from xuncha.detector.cards import find_card, resolve_file
from xuncha.detector.onnx import ModelError
from xuncha.worker import Worker
from xuncha.worker.command import stop_on_signals

log = logging.getLogger("xuncha.demo")

DEMO_MODEL = "yolox_nano_coco"  # fastest shared model; used only when its file is present
FULL_FRAME = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


def _available_model(name: str) -> str | None:
    try:
        resolve_file(find_card(name))
    except ModelError:
        return None
    return name


def demo_config(source: str, polygon: list[tuple[float, float]], data_dir: Path, model: str | None) -> WorkerConfig:
    """One camera, one zone with a "no dumping" rule (乱堆物堆料, dwell 10 s) for left objects."""
    return WorkerConfig.model_validate(
        {
            "data_dir": str(data_dir),
            "detectors": {"models": [model] if model else [], "stationary": True},
            "cameras": [
                {
                    "id": "demo-1",
                    "name": "演示路段",
                    "source": str(source),
                    "sample_interval_s": 1.0,
                    "region": {"code": "440106001", "name": "演示街道"},
                    "zones": [
                        {
                            "id": "walkway",
                            "name": "人行道",
                            "polygon": polygon,
                            "rules": [
                                {
                                    "category": "0507",
                                    "labels": ["static_object"],
                                    "exclude_labels": ["person"],
                                    "min_area": 0.002,
                                    "max_area": 0.25,
                                    "anchor": "overlap",
                                    "dwell_s": 10,
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    )


def _describe(e: ClueEvent, evidence_root: Path) -> str:
    lines = [
        f"线索 {e.clue_id}: {e.category.name} ({e.category.code}) 摄像头 {e.camera.name} / {e.zone.name}",
        f"  首次发现 {e.first_seen:%H:%M:%S}  持续 {e.dwell_s:.0f} s  置信度 {e.score:.2f}  "
        f"位置 {[round(c) for c in e.box]}  镇街 {e.region.name if e.region else '-'}",
    ]
    if e.evidence:
        for name in ("scene", "crop", "start"):
            lines.append(f"  证据 {name}: {evidence_root / getattr(e.evidence, name).path}")
    return "\n".join(lines)


def run_demo(
    source: str | None, data_dir: Path, model: str | None, stop: threading.Event | None = None
) -> list[ClueEvent]:
    """Run on the rendered clip, or on `source` (a file: to its end; a stream URL: live until `stop`)."""
    if source is None:
        clip = data_dir / "demo_street.mp4"
        truth = render_demo_clip(clip)
        source = str(clip)
        polygon = [tuple(p) for p in truth.walkway]
        log.info("rendered %s: a bag is left at %s px, %.0f s into the clip", clip, truth.box, truth.appears_s)
    else:
        polygon = FULL_FRAME
    cfg, taxonomy = resolve_config(demo_config(source, polygon, data_dir, model), Path.cwd(), "demo")
    log.info("models: %s", ", ".join(cfg.detectors.models + ["static_object (stationary)"]))
    live = "://" in source
    if live:
        log.info("live stream: press Ctrl-C to stop")
    events: list[ClueEvent] = []
    Worker(cfg, taxonomy).run(once=not live, stop=stop, on_event=events.append)
    return events


def _command(args: argparse.Namespace) -> int:
    model = None if args.no_model else (args.model or _available_model(DEMO_MODEL))
    stop = threading.Event()
    stop_on_signals(stop)
    events = run_demo(args.source, args.data_dir, model, stop)
    opened = [e for e in events if e.kind == "opened"]
    root = args.data_dir / "evidence"
    print(f"\n{len(opened)} 条线索 (clues found):" if opened else "\n没有发现线索 (no clue found)")
    for e in opened:
        print(_describe(e, root))
    return 0 if opened or args.source else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="render a synthetic street clip and find the object left on it")
    p.add_argument(
        "--source", help="a video file or stream URL (rtsp://...) to run on instead, with a zone covering the frame"
    )
    p.add_argument("--model", help="ONNX model card or path (default: yolox_nano_coco when its file is found)")
    p.add_argument("--no-model", action="store_true", help="stationary-object model only")
    p.add_argument("--data-dir", type=Path, default=Path("var/demo"), help="broker, evidence and clip location")
    p.set_defaults(func=_command)
