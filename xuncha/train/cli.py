"""`xuncha train`: prepare data, convert COCO weights, train, export ONNX and write its model card."""

from __future__ import annotations

import argparse
import importlib.util
import shlex
from pathlib import Path

from xuncha.train.run import ARCH_YAML, TrainOptions
from xuncha.yamlfile import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a detector with Ultralytics (needs the [train] extra)",
        description=(
            "Train a YOLO detector in one resumable run folder: the data set is checked and re-split by "
            "source photo, CCTV-like composites are added (--footage), training starts from COCO weights "
            "converted from an Ultralytics int8 ONNX export (--weights) or from scratch, and the best "
            "weights are exported to RUN/NAME.onnx with a model card RUN/NAME.yaml. Rerun the same command "
            "to continue an interrupted run."
        ),
    )
    p.add_argument("--data", type=Path, required=True, help="YOLO-format data set dir (images/ + labels/ folders)")
    p.add_argument("--run", type=Path, required=True, help="run folder (everything is written here)")
    p.add_argument("--name", default="garbage", help="model name (card name and file stem)")
    start = p.add_mutually_exclusive_group(required=True)
    start.add_argument(
        "--weights",
        type=Path,
        help="Ultralytics int8 ONNX export to start from (yolov8n, yolo11n), or a trained .pt (a run's best.pt)",
    )
    start.add_argument("--scratch", action="store_true", help="start from random weights")
    p.add_argument("--arch", choices=sorted(ARCH_YAML), default="yolov8n", help="architecture for --scratch")
    p.add_argument("--one-class", default="garbage", help="merge all classes into this one ('' keeps them)")
    p.add_argument("--split-file", type=Path, help="split by source photo to use (default: written in the run)")
    p.add_argument("--footage", type=Path, help="footage dir: add CCTV composites from its clips")
    p.add_argument("--cctv-train", type=int, default=600, help="CCTV composite images for training")
    p.add_argument("--cctv-val", type=int, default=150, help="CCTV composite images for validation")
    p.add_argument(
        "--cctv-negatives", type=int, default=0, help="background-only frames per camera (bag-free stretches)"
    )
    p.add_argument("--dark-share", type=float, default=0.0, help="share of pasted bags recoloured to dark tones")
    p.add_argument("--reviews", type=Path, help="a review export (xuncha review export-dataset) to mix in")
    p.add_argument("--imgsz", type=int, default=320, help="training image size")
    p.add_argument("--export-imgsz", type=int, default=640, help="ONNX input size")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--hours", type=float, help="time budget; overrides --epochs (fits the schedule into it)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_train)


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces a run (every option spelled out), for the model card."""
    parts = ["xuncha", "train", "--data", str(args.data), "--run", str(args.run), "--name", args.name]
    parts += ["--weights", str(args.weights)] if args.weights else ["--scratch", "--arch", args.arch]
    parts += ["--one-class", args.one_class]
    if args.split_file:
        parts += ["--split-file", str(args.split_file)]
    if args.footage:
        parts += ["--footage", str(args.footage), "--cctv-train", str(args.cctv_train)]
        parts += ["--cctv-val", str(args.cctv_val), "--cctv-negatives", str(args.cctv_negatives)]
        parts += ["--dark-share", str(args.dark_share)]
    if args.reviews:
        parts += ["--reviews", str(args.reviews)]
    parts += ["--imgsz", str(args.imgsz), "--export-imgsz", str(args.export_imgsz), "--epochs", str(args.epochs)]
    parts += ["--batch", str(args.batch), "--seed", str(args.seed)]
    if args.hours:
        parts += ["--hours", str(args.hours)]
    return " ".join(shlex.quote(p) for p in parts)


def _train(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("ultralytics") is None or importlib.util.find_spec("torch") is None:
        raise ConfigError("xuncha train needs the [train] extra: pip install -e '.[train]'")
    from xuncha.train.run import run

    opts = TrainOptions(
        data=str(args.data),
        name=args.name,
        weights=str(args.weights) if args.weights else None,
        arch=args.arch,
        one_class=args.one_class or None,
        split_file=str(args.split_file) if args.split_file else None,
        footage=str(args.footage) if args.footage else None,
        cctv_train=args.cctv_train,
        cctv_val=args.cctv_val,
        cctv_negatives=args.cctv_negatives,
        dark_share=args.dark_share,
        reviews=str(args.reviews) if args.reviews else None,
        imgsz=args.imgsz,
        export_imgsz=args.export_imgsz,
        epochs=args.epochs,
        batch=args.batch,
        seed=args.seed,
        hours=args.hours,
    )
    card = run(args.run, opts, command_line(args))
    print(card)
    return 0
