"""`xuncha detect` (run a model on an image or a video file) and `xuncha models list|show`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from xuncha.detector.cards import find_card, list_cards, load_detector, resolve_file
from xuncha.detector.modelcard import ModelCard
from xuncha.detector.onnx import ModelError, file_checksum
from xuncha.types import Detection

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class SourceError(ValueError):
    """The image or video given to `xuncha detect` cannot be read."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="run a detector on an image or a video file; prints JSON lines")
    p.add_argument("--model", required=True, help="model card name, card YAML path or .onnx path")
    p.add_argument("source", type=Path, help="image or video file")
    p.add_argument("--every", type=float, default=1.0, help="seconds of video time between samples; 0: all")
    p.add_argument("--save", type=Path, metavar="DIR", help="write annotated JPEGs here")
    p.add_argument("--conf", type=float, default=0.25, help="score threshold (default 0.25)")
    p.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: all cores)")
    p.add_argument("--card-dir", action="append", default=[], type=Path, help="extra model card directory")
    p.set_defaults(func=cmd_detect)

    m = sub.add_parser("models", help="list and show model cards")
    msub = m.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    ls = msub.add_parser("list", help="list model cards and whether their files are found")
    ls.add_argument("--card-dir", action="append", default=[], type=Path, help="extra model card directory")
    ls.set_defaults(func=cmd_models_list)
    show = msub.add_parser("show", help="print one model card and check its file")
    show.add_argument("name")
    show.add_argument("--card-dir", action="append", default=[], type=Path, help="extra model card directory")
    show.set_defaults(func=cmd_models_show)


def annotate(image: np.ndarray, detections: list[Detection]) -> np.ndarray:
    """A copy of `image` with each detection's box, label and score drawn."""
    out = image.copy()
    for d in detections:
        x1, y1, x2, y2 = (int(round(v)) for v in d.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 0, 255), 1)
        cv2.putText(
            out,
            f"{d.label} {d.score:.2f}",
            (x1, max(10, y1 - 3)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (0, 0, 255),
            1,
            cv2.LINE_AA,
        )
    return out


def read_source(path: Path, every: float) -> Iterator[tuple[float | None, np.ndarray]]:
    """(video time or None for an image, BGR frame); a video yields one frame per `every` seconds."""
    if not path.is_file():
        raise SourceError(f"{path}: file not found")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{path}: not a readable image")
        yield None, image
        return
    try:
        container = av.open(str(path))
    except av.FFmpegError as e:
        raise SourceError(f"{path}: not a readable image or video: {e}") from None
    with container:
        if not container.streams.video:
            raise SourceError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        k = 0
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            if every > 0 and t + 1e-6 < k * every:
                continue
            k = int(t / every + 1e-6) + 1 if every > 0 else k
            yield t, frame.to_ndarray(format="bgr24")


def _detection_json(d: Detection) -> dict:
    return {"label": d.label, "score": round(d.score, 4), "box": [round(v, 1) for v in d.box]}


def cmd_detect(args: argparse.Namespace) -> int:
    try:
        detector = load_detector(str(args.model), threads=args.threads, card_dirs=args.card_dir, conf=args.conf)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
        for t, image in read_source(args.source, args.every):
            detections = detector.detect_one(image)
            line = {
                "source": str(args.source),
                "frame_time": None if t is None else round(t, 3),
                "detections": [_detection_json(d) for d in detections],
            }
            print(json.dumps(line, ensure_ascii=False), flush=True)
            if args.save:
                name = args.source.stem + ("" if t is None else f"_{t:09.3f}") + ".jpg"
                cv2.imwrite(str(args.save / name), annotate(image, detections))
    except (ModelError, SourceError) as e:
        print(f"xuncha: {e}", file=sys.stderr)
        return 2
    return 0


def _file_status(card: ModelCard) -> tuple[str, bool]:
    try:
        path = resolve_file(card)
    except ModelError as e:
        return f"not found ({e})", False
    if file_checksum(path) != card.checksum:
        return f"{path} (CHECKSUM MISMATCH)", False
    return str(path), True


def cmd_models_list(args: argparse.Namespace) -> int:
    print(f"{'name':28} {'family':12} {'input':9} {'classes':8} file")
    for card in list_cards(args.card_dir):
        w, h = card.input_size
        classes = str(len(card.classes)) if card.classes else "metadata"
        status, _ = _file_status(card)
        print(f"{card.name:28} {card.family:12} {f'{w}x{h}':9} {classes:8} {status}")
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    try:
        card = find_card(args.name, args.card_dir)
    except ModelError as e:
        print(f"xuncha: {e}", file=sys.stderr)
        return 2
    for key, value in card.model_dump(mode="json", exclude_none=True).items():
        if key == "classes":
            value = f"{len(value)}: " + ", ".join(value)
        print(f"{key}: {value}")
    print(f"card: {card.card_path}")
    status, ok = _file_status(card)
    print(f"found: {status}")
    return 0 if ok else 1
