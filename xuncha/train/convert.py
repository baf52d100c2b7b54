"""Ultralytics weights from an int8 ONNX export: the starting point when no .pt checkpoint is available.

The shared COCO exports (`yolov8n_coco_int8.onnx`, `yolo11n_coco_int8_320.onnx`) were quantised with
onnxruntime's dynamic quantisation: each convolution is a ConvInteger with uint8 per-tensor weights
whose initialiser names are the PyTorch parameter names (``model.4.m.0.cv1.conv.weight_quantized``),
BatchNorm folded into the convolution's bias. Static QDQ files (the shipped garbage model) name them the
same way, with per-channel int8 weights and int32 biases. fp32 files hold ``<name>.weight`` as they are.
Dequantised, the weights go into the Ultralytics model built from its YAML. The folded BatchNorm is
rebuilt from statistics of the convolutions' outputs on a few dozen real images: with mean m and
variance v of a channel, gamma = sqrt(v + eps) and beta = bias + m give exactly the folded layer in eval
mode, and normalise like a trained BatchNorm in training mode (an identity BatchNorm makes the first
training batches meaningless).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from xuncha.detector.onnx import ModelError, OnnxDetector
from xuncha.types import Detection

ARCHITECTURES = {"YOLOv8n": "yolov8n.yaml", "YOLO11n": "yolo11n.yaml"}


def _architecture(meta: dict[str, str], path: Path) -> str:
    description = meta.get("description", "")
    for name, yaml_file in ARCHITECTURES.items():
        if name.lower() in description.lower():
            return yaml_file
    raise ModelError(
        f"{path}: metadata description {description!r} names none of {', '.join(ARCHITECTURES)}; "
        "only Ultralytics exports of these can be converted"
    )


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """Float weights by PyTorch name: ``<prefix>.weight`` dequantised, ``<prefix>.bias`` as stored."""
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    out: dict[str, np.ndarray] = {}
    for name, q in inits.items():
        if name.endswith(".weight_quantized"):
            prefix = name.removesuffix(".weight_quantized")
            # Per tensor (dynamic quantisation: scalars) or per output channel (static QDQ: one per row).
            channel = (-1,) + (1,) * (q.ndim - 1)
            scale = inits[f"{prefix}.weight_scale"].astype(np.float32).reshape(channel)
            zero = inits[f"{prefix}.weight_zero_point"].astype(np.float32).reshape(channel)
            out[f"{prefix}.weight"] = (q.astype(np.float32) - zero) * scale
        elif name.endswith(".bias_quantized"):  # static QDQ: int32 bias at input scale x weight scale
            prefix = name.removesuffix(".bias_quantized")
            zero = inits[f"{prefix}.bias_quantized_zero_point"].astype(np.float32)
            out[f"{prefix}.bias"] = (q.astype(np.float32) - zero) * inits[f"{prefix}.bias_quantized_scale"]
        elif name.endswith(".weight") or re.search(r"\.bias$", name):
            out[name] = inits[name].astype(np.float32)
    if not any(k.endswith(".weight") for k in out):
        raise ModelError(f"{path}: no convolution weights found (expected ConvInteger initialisers)")
    return out


@dataclass(frozen=True)
class Converted:
    """A converted model, the architecture YAML it was built from and the source's metadata."""

    model: nn.Module
    architecture: str
    names: dict[int, str]
    imgsz: int


def build(path: Path) -> Converted:
    """The Ultralytics DetectionModel with the ONNX file's weights, BatchNorm still folded (identity)."""
    import onnxruntime as ort
    from ultralytics.nn.modules import Conv
    from ultralytics.nn.tasks import DetectionModel

    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    architecture = _architecture(meta, path)
    names = eval_names(meta.get("names", "{}"))
    imgsz = int(re.findall(r"\d+", meta.get("imgsz", "640"))[0])
    weights = onnx_weights(path)
    model = _model_for(DetectionModel, architecture, len(names), weights)
    used = set()
    with torch.no_grad():
        for name, module in model.model.named_modules(prefix="model"):
            if isinstance(module, Conv):
                w, b = weights.get(f"{name}.conv.weight"), weights.get(f"{name}.conv.bias")
                if w is None or b is None:
                    raise ModelError(f"{path}: no weights for {name}.conv of {architecture}")
                _copy(module.conv.weight, w, f"{path}: {name}.conv.weight")
                bn = module.bn
                bn.weight.fill_(1.0)
                bn.bias.copy_(torch.from_numpy(b))
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
                used |= {f"{name}.conv.weight", f"{name}.conv.bias"}
            elif isinstance(module, nn.Conv2d) and module.bias is not None and f"{name}.weight" in weights:
                _copy(module.weight, weights[f"{name}.weight"], f"{path}: {name}.weight")
                _copy(module.bias, weights[f"{name}.bias"], f"{path}: {name}.bias")
                used |= {f"{name}.weight", f"{name}.bias"}
    # The DFL convolution is a fixed 0..15 ramp the model builds itself (its int8 copy is only close to it).
    unused = sorted(k for k in weights if k not in used and ".dfl." not in k)
    if unused:
        raise ModelError(f"{path}: {len(unused)} weights fit no layer of {architecture} (first: {unused[0]})")
    model.names = names
    return Converted(model.eval(), architecture, names, imgsz)


def _model_for(detection_model: type, architecture: str, nc: int, weights: dict[str, np.ndarray]) -> nn.Module:
    """The architecture with `nc` classes and a class branch as wide as the one in `weights`.

    Ultralytics sizes the class branch from the class count it was built with; a model fine-tuned
    from COCO weights keeps COCO's width (80) with one class, which `nc=1` alone would not rebuild.
    """
    model = detection_model(architecture, nc=nc, verbose=False)
    head = model.model[-1]
    final = f"model.{len(model.model) - 1}.cv3.0.2.weight"  # the last 1x1 convolution of the class branch
    if final not in weights or weights[final].shape[1] == head.cv3[0][-1].in_channels:
        return model
    width = int(weights[final].shape[1])
    model = detection_model(architecture, nc=width, verbose=False)
    head = model.model[-1]
    for branch in head.cv3:
        branch[-1] = nn.Conv2d(width, nc, 1)
    head.nc, head.no = nc, nc + head.reg_max * 4
    model.nc = model.yaml["nc"] = nc
    return model


def eval_names(raw: str) -> dict[int, str]:
    import ast

    names = ast.literal_eval(raw)
    return dict(enumerate(names)) if isinstance(names, list) else {int(k): str(v) for k, v in names.items()}


def _copy(param: torch.Tensor, value: np.ndarray, what: str) -> None:
    if tuple(param.shape) != value.shape:
        raise ModelError(f"{what}: shape {value.shape} in the ONNX file, {tuple(param.shape)} in the model")
    param.copy_(torch.from_numpy(value))


def reestimate_batchnorm(model: nn.Module, batches: Sequence[torch.Tensor]) -> None:
    """Set every BatchNorm to the statistics of its input on `batches`, keeping the eval output unchanged."""
    stats: dict[nn.BatchNorm2d, list[torch.Tensor]] = {}

    def hook(bn: nn.BatchNorm2d, inputs: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        x = inputs[0].detach()
        s = stats.setdefault(bn, [torch.zeros(x.shape[1], dtype=torch.float64)] * 3)
        flat = x.transpose(0, 1).reshape(x.shape[1], -1).double()
        stats[bn] = [s[0] + flat.shape[1], s[1] + flat.sum(1), s[2] + (flat * flat).sum(1)]

    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    handles = [bn.register_forward_hook(hook) for bn in bns]
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                model(batch)
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for bn in bns:
            n, s1, s2 = stats[bn]
            mean = s1 / n
            var = (s2 / n - mean * mean).clamp(min=1e-6)
            bias = bn.bias.double().clone()  # the folded bias (BatchNorm is identity + bias here)
            bn.weight.copy_(torch.sqrt(var + bn.eps).float())
            bn.bias.copy_((bias + mean).float())
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())


def calibration_batches(detector: OnnxDetector, images: Sequence[Path], batch: int = 8) -> list[torch.Tensor]:
    """Letterboxed network inputs (as the detector feeds them) of `images`, in batches."""
    blobs = []
    for p in images:
        img = cv2.imread(str(p))
        if img is None:
            raise ModelError(f"{p}: not a readable image")
        blobs.append(detector.preprocess([img])[0])
    arr = np.concatenate(blobs)
    return [torch.from_numpy(arr[i : i + batch]) for i in range(0, len(arr), batch)]


def torch_detections(model: nn.Module, detector: OnnxDetector, image: np.ndarray) -> list[Detection]:
    """Detections of the PyTorch model, through the ONNX detector's own pre- and postprocessing."""
    blob, scales = detector.preprocess([image])
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(blob))
    raw = (out[0] if isinstance(out, tuple | list) else out).numpy()
    return detector.postprocess(raw[0], scales[0], image.shape[:2])


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Agreement:
    """How well the converted model reproduces the ONNX model's detections on one image."""

    onnx_detections: int
    matched: int
    mean_iou: float

    @property
    def ok(self) -> bool:
        return self.onnx_detections > 0 and self.matched >= 0.9 * self.onnx_detections and self.mean_iou >= 0.9

    @staticmethod
    def total(parts: Sequence[Agreement]) -> Agreement:
        """The agreement over several images (mean IoU over all matched detections)."""
        matched = sum(p.matched for p in parts)
        iou = sum(p.mean_iou * p.matched for p in parts) / matched if matched else 0.0
        return Agreement(sum(p.onnx_detections for p in parts), matched, iou)


def agreement(reference: list[Detection], converted: list[Detection]) -> Agreement:
    """ONNX detections matched by a converted one of the same label (greedy, best IoU >= 0.5)."""
    free = list(converted)
    ious = []
    for d in sorted(reference, key=lambda d: -d.score):
        best = max(
            ((_iou(d.box, c.box), c) for c in free if c.label == d.label), default=(0.0, None), key=lambda t: t[0]
        )
        if best[1] is not None and best[0] >= 0.5:
            free.remove(best[1])
            ious.append(best[0])
    return Agreement(len(reference), len(ious), float(np.mean(ious)) if ious else 0.0)


def convert(path: Path, calibration: Sequence[Path], check_images: Sequence[np.ndarray], out: Path) -> Agreement:
    """Convert `path`, re-estimate BatchNorm on `calibration`, check it on `check_images`, save an Ultralytics .pt.

    The check counts every ONNX detection on all `check_images`: give images on which the model
    detects something (a street frame for a COCO model, training photos for a garbage model).

    Raises ModelError when the converted model does not reproduce the ONNX model's detections.
    """
    import datetime

    import ultralytics

    detector = OnnxDetector(path, conf=0.25)
    conv = build(path)
    reestimate_batchnorm(conv.model, calibration_batches(detector, calibration))
    result = Agreement.total(
        [agreement(detector.detect_one(im), torch_detections(conv.model, detector, im)) for im in check_images]
    )
    if not result.ok:
        raise ModelError(
            f"{path}: the converted model does not reproduce the ONNX model's detections: "
            f"{result.matched} of {result.onnx_detections} matched, mean IoU {result.mean_iou:.3f}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    conv.model.args = {"imgsz": conv.imgsz}
    ckpt = {
        "date": datetime.datetime.now().isoformat(),
        "version": ultralytics.__version__,
        "model": conv.model.float(),
        "train_args": {"model": conv.architecture, "source": str(path)},
        "epoch": -1,
    }
    torch.save(ckpt, out)
    return result
