"""ONNX object detector for Ultralytics (YOLOv5u/v8/11 detect) and YOLOX exports, with onnxruntime.

The family is read from the output layout: Ultralytics heads give ``B x (4+C) x N`` (cxcywh + class
scores), YOLOX gives the raw grid ``B x N x (5+C)`` (offsets, log sizes, objectness, class scores),
where N is the number of stride-8/16/32 grid cells of the input.

>>> det = OnnxDetector("../shared/data/models/yolox_nano_coco.onnx", card)  # doctest: +SKIP
>>> det.detect_one(cv2.imread("street.jpg"))  # doctest: +SKIP
[Detection(label='person', score=0.87, box=(412.3, 80.1, 455.0, 201.7), model='yolox_nano_coco'), ...]
"""

from __future__ import annotations

import ast
import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from xuncha.detector.modelcard import Family, ModelCard, ModelError
from xuncha.types import Detection

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
PAD_VALUE = 114
MAX_NMS = 30000  # candidates handed to NMS, as Ultralytics
MAX_DET = 300  # detections kept per image, as Ultralytics
# Accelerators first; onnxruntime falls back node by node to the next provider in the list.
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def file_checksum(path: str | Path) -> str:
    """``sha256:<hex>`` of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def grid_cells(width: int, height: int) -> int:
    """Number of stride-8/16/32 grid cells (= predictions) of a ``width`` x ``height`` input."""
    return sum((height // s) * (width // s) for s in STRIDES)


def default_providers() -> list[str]:
    available = set(ort.get_available_providers())
    return [p for p in PREFERRED_PROVIDERS if p in available]


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """CPU throughput settings: one graph run at a time, all graph optimisations, `threads` per run."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    if threads:
        so.intra_op_num_threads = threads
    # The worker calls the model in bursts with pauses between: spinning pool threads then burn CPU
    # for nothing. Measured on yolox_nano (20 runs, 0.1 s apart, 2 cores): 1.18 CPU-s spinning vs
    # 0.29 without, for ~17 % more wall time inside the runs.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


def _parse_names(raw: str, path: Path) -> list[str]:
    try:
        names = ast.literal_eval(raw)
    except (ValueError, SyntaxError) as e:
        raise ModelError(f"{path}: metadata 'names' is not a Python literal: {e}") from None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or sorted(names) != list(range(len(names))):
        raise ModelError(f"{path}: metadata 'names' must map 0..C-1 to class names, got {raw[:80]!r}")
    return [str(names[i]) for i in range(len(names))]


def _parse_imgsz(raw: str, path: Path) -> tuple[int, int]:
    """Ultralytics ``imgsz`` metadata ``[h, w]`` (or one int) -> (w, h)."""
    try:
        v = ast.literal_eval(raw)
        h, w = (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))
    except (ValueError, SyntaxError, TypeError, IndexError):
        raise ModelError(f"{path}: metadata 'imgsz' not understood: {raw!r}") from None
    return (w, h)


class OnnxDetector:
    """Runs one ONNX detector on BGR uint8 frames; boxes come back in each source image's pixels."""

    def __init__(
        self,
        path: str | Path,
        card: ModelCard | None = None,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        conf: float = 0.25,
        iou: float = 0.45,
    ) -> None:
        self.path = path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: model file not found")
        self.checksum = file_checksum(path)
        if card is not None and card.checksum != self.checksum:
            raise ModelError(
                f"{path}: checksum {self.checksum} does not match card {card.name!r} ({card.checksum}); "
                "the file changed or the card names the wrong file"
            )
        self.name = card.name if card is not None else path.stem
        self.second_look = card.second_look if card is not None else False
        # A card's measured threshold (best F1 on validation) is what its scene rules use: the floor
        # must not cut below it, whatever the worker-wide `detectors.conf` says.
        threshold = card.metrics.get("threshold") if card is not None else None
        self.conf = min(conf, threshold) if threshold is not None else conf
        self.iou = iou
        self.last_timing: dict[str, float] = {"pre": 0.0, "infer": 0.0, "post": 0.0}
        try:
            self.session = ort.InferenceSession(
                str(path), session_options(threads), providers=list(providers or default_providers())
            )
        except Exception as e:  # onnxruntime raises its own exception types for unreadable models
            raise ModelError(f"{path}: not a loadable ONNX model: {str(e).strip()[:300]}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        task = meta.get("task")
        if task is not None and task != "detect":
            raise ModelError(f"{path}: Ultralytics task {task!r}, only 'detect' models are supported")

        inp = self.session.get_inputs()[0]
        if len(inp.shape) != 4 or (isinstance(inp.shape[1], int) and inp.shape[1] != 3):
            raise ModelError(f"{path}: input {inp.name!r} has shape {inp.shape}, expected B x 3 x H x W")
        self.input_name = inp.name
        self._output_names = [self.session.get_outputs()[0].name]
        self._input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        self.batch: int | None = inp.shape[0] if isinstance(inp.shape[0], int) and inp.shape[0] > 0 else None
        self.input_size = self._input_size(inp.shape, meta, card)

        out_shape = self._probe()
        self.family, n_classes = self._layout(out_shape)
        if card is not None and card.family != self.family:
            raise ModelError(f"{path}: card {card.name!r} is family {card.family!r}, the model {self.family}")
        self.labels = self._labels(meta, card, n_classes)
        if self.family == "yolox":
            self._grid, self._grid_stride = self._yolox_grid()
        log.debug(
            "loaded %s: %s, %s, %d classes, providers %s",
            self.name,
            self.family,
            self.input_size,
            len(self.labels),
            self.session.get_providers(),
        )

    # -- loading ---------------------------------------------------------------------------------

    def _input_size(self, shape: list, meta: dict[str, str], card: ModelCard | None) -> tuple[int, int]:
        h, w = shape[2], shape[3]
        size = (w, h) if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0 else None
        if size is None and "imgsz" in meta:
            size = _parse_imgsz(meta["imgsz"], self.path)
        if card is not None:
            if size is not None and tuple(card.input_size) != size:
                raise ModelError(
                    f"{self.path}: card {card.name!r} says input_size {list(card.input_size)} (w, h), "
                    f"model takes {list(size)}"
                )
            size = tuple(card.input_size)
        if size is None:
            raise ModelError(f"{self.path}: dynamic input size not in metadata; give a card input_size")
        return size

    def _probe(self) -> tuple[int, ...]:
        """Run one blank batch to learn the real output shape (also warms the session up)."""
        w, h = self.input_size
        blank = np.full((self.batch or 1, 3, h, w), PAD_VALUE / 255, dtype=self._input_dtype)
        try:
            out = self.session.run(self._output_names, {self.input_name: blank})
        except Exception as e:
            msg = str(e).strip()[:300]
            raise ModelError(f"{self.path}: model does not run on a {blank.shape} input: {msg}") from None
        return out[0].shape

    def _layout(self, shape: tuple[int, ...]) -> tuple[Family, int]:
        cells = grid_cells(*self.input_size)
        if len(shape) == 3 and shape[2] == cells and shape[1] >= 5:
            return "ultralytics", shape[1] - 4
        if len(shape) == 3 and shape[1] == cells and shape[2] >= 6:
            return "yolox", shape[2] - 5
        raise ModelError(
            f"{self.path}: output shape {list(shape)} not understood for a {self.input_size[0]}x"
            f"{self.input_size[1]} input: expected B x (4+C) x {cells} (Ultralytics) or "
            f"B x {cells} x (5+C) (YOLOX)"
        )

    def _labels(self, meta: dict[str, str], card: ModelCard | None, n_classes: int) -> list[str]:
        names = _parse_names(meta["names"], self.path) if "names" in meta else None
        if card is not None and card.classes is not None:
            if names is not None and names != card.classes:
                raise ModelError(f"{self.path}: card {card.name!r} classes differ from the metadata names")
            names = list(card.classes)
        if names is None:
            raise ModelError(f"{self.path}: no class names in the model metadata; give a card with classes")
        if len(names) != n_classes:
            source = f"card {card.name!r}" if card is not None and card.classes else "metadata"
            raise ModelError(f"{self.path}: {source} lists {len(names)} classes, model outputs {n_classes}")
        return names

    def _yolox_grid(self) -> tuple[np.ndarray, np.ndarray]:
        w, h = self.input_size
        grids, strides = [], []
        for s in STRIDES:
            ys, xs = np.mgrid[0 : h // s, 0 : w // s]
            grids.append(np.stack((xs.ravel(), ys.ravel()), 1))
            strides.append(np.full(xs.size, s))
        return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)

    # -- running ---------------------------------------------------------------------------------

    def detect_one(self, image: np.ndarray) -> list[Detection]:
        return self.detect([image])[0]

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections for each BGR uint8 image (any sizes); `last_timing` gets the stage times."""
        if not images:
            return []
        t0 = time.perf_counter()
        blob, scales = self.preprocess(images)
        t1 = time.perf_counter()
        outputs = self.infer(blob)
        t2 = time.perf_counter()
        results = [
            self.postprocess(out, scale, img.shape[:2]) for out, scale, img in zip(outputs, scales, images, strict=True)
        ]
        t3 = time.perf_counter()
        self.last_timing = {"pre": t1 - t0, "infer": t2 - t1, "post": t3 - t2}
        return results

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
        """The network input for `images` (N x 3 x H x W) and each image's (gain, pad_x, pad_y)."""
        w, h = self.input_size
        blob = np.empty((len(images), 3, h, w), dtype=np.float32)
        ultralytics = self.family == "ultralytics"
        # Ultralytics feeds RGB / 255 (float32 division, as torch does); YOLOX feeds BGR 0-255.
        pad = np.float32(PAD_VALUE) / np.float32(255) if ultralytics else np.float32(PAD_VALUE)
        scales = []
        for i, img in enumerate(images):
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(f"expected an H x W x 3 uint8 BGR image, got {img.shape} {img.dtype}")
            resized, top, left, scale = self._letterbox(img)
            scales.append(scale)
            nh, nw = resized.shape[:2]
            # Write the pad and each channel straight into the planar blob: no padded copy, one pass.
            out = blob[i]
            out[:, :top] = pad
            out[:, top + nh :] = pad
            out[:, top : top + nh, :left] = pad
            out[:, top : top + nh, left + nw :] = pad
            channels = cv2.split(resized)
            for c, channel in enumerate(channels[::-1] if ultralytics else channels):
                region = out[c, top : top + nh, left : left + nw]
                if ultralytics:
                    np.divide(channel, np.float32(255), out=region)
                else:
                    region[...] = channel
        return (blob if self._input_dtype == np.float32 else blob.astype(self._input_dtype)), scales

    def infer(self, blob: np.ndarray) -> np.ndarray:
        """Raw model output for a preprocessed batch: one run for a dynamic batch, else batch-sized runs."""
        n = len(blob)
        if self.batch is None or self.batch == n:
            return self.session.run(self._output_names, {self.input_name: blob})[0]
        outputs = []
        for i in range(0, n, self.batch):
            part = blob[i : i + self.batch]
            if len(part) < self.batch:  # a static batch > 1 wants full batches
                part = np.concatenate([part, np.repeat(part[-1:], self.batch - len(part), 0)])
            outputs.append(self.session.run(self._output_names, {self.input_name: part})[0])
        return np.concatenate(outputs)[:n]

    def _letterbox(self, img: np.ndarray) -> tuple[np.ndarray, int, int, tuple[float, float, float]]:
        """The resized image, its top and left offset in the input, and (gain, pad_x, pad_y) for boxes."""
        w_in, h_in = self.input_size
        h0, w0 = img.shape[:2]
        r = min(h_in / h0, w_in / w0)
        if self.family == "yolox":
            # YOLOX preproc: truncated size, image at the top-left corner.
            nw, nh = int(w0 * r), int(h0 * r)
            top = left = 0
            pad_x = pad_y = 0.0
        else:
            # Ultralytics LetterBox(auto=False, center=True), and the pad scale_boxes takes back off.
            nw, nh = int(round(w0 * r)), int(round(h0 * r))
            top, left = int(round((h_in - nh) / 2 - 0.1)), int(round((w_in - nw) / 2 - 0.1))
            pad_x = float(round((w_in - w0 * r) / 2 - 0.1))
            pad_y = float(round((h_in - h0 * r) / 2 - 0.1))
        if (nw, nh) != (w0, h0):
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        return img, top, left, (r, pad_x, pad_y)

    def postprocess(
        self, out: np.ndarray, scale: tuple[float, float, float], shape: tuple[int, int]
    ) -> list[Detection]:
        """Detections from one image's raw output; `shape` is the source image's (height, width)."""
        if self.family == "yolox":
            # score = obj * cls <= obj: cells with obj <= conf cannot pass, skip their class maxima.
            idx = np.flatnonzero(out[:, 4] > self.conf)
            cls = out[idx, 5:]
            best = cls.max(1) * out[idx, 4]
            passed = best > self.conf
            idx, scores, classes = idx[passed], best[passed], cls[passed].argmax(1)
            raw = out[idx]
            xy = (raw[:, :2] + self._grid[idx]) * self._grid_stride[idx, None]
            wh = np.exp(raw[:, 2:4]) * self._grid_stride[idx, None]
        else:
            cls = out[4:]
            best = cls.max(0)
            idx = np.flatnonzero(best > self.conf)
            scores = best[idx]
            classes = cls[:, idx].argmax(0)
            xy = out[:2, idx].T
            wh = out[2:4, idx].T
        if idx.size == 0:
            return []
        if idx.size > MAX_NMS:
            top = np.argsort(-scores)[:MAX_NMS]
            xy, wh, scores, classes = xy[top], wh[top], scores[top], classes[top]
        # Class-wise NMS on top-left x, y, w, h in input pixels.
        tl = xy - wh / 2
        xywh = np.concatenate((tl, wh), 1).astype(np.float64)
        keep = cv2.dnn.NMSBoxesBatched(xywh, scores.astype(np.float64), classes, self.conf, self.iou)
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)[:MAX_DET]
        gain, pad_x, pad_y = scale
        h0, w0 = shape
        boxes = np.concatenate((tl[keep], tl[keep] + wh[keep]), 1)
        boxes -= (pad_x, pad_y, pad_x, pad_y)
        boxes /= gain
        np.clip(boxes, 0, (w0, h0, w0, h0), out=boxes)
        labels, name = self.labels, self.name
        return [
            Detection(labels[c], s, tuple(box), name)
            for c, s, box in zip(classes[keep].tolist(), scores[keep].tolist(), boxes.tolist(), strict=True)
        ]

    def __repr__(self) -> str:
        w, h = self.input_size
        return f"OnnxDetector({self.name!r}, {self.family}, {w}x{h}, {len(self.labels)} classes)"
