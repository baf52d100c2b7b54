"""Static int8 QDQ of a trained Ultralytics detector's ONNX file, calibrated on images like the cameras'.

What stays in float matters: the Detect head's final 1x1 convs and its decode (DFL, box decode, sigmoid,
the output concat that mixes 0-320 pixel boxes and 0-1 scores) must never share one uint8 scale; the
rest quantises (`bench/README.md`, *Garbage detector, int8*, measures the variants).
"""

from __future__ import annotations

import re
from collections.abc import Set
from pathlib import Path

import numpy as np

from xuncha.detector.onnx import OnnxDetector

# Head convs that stay int8 under `last`: the two 3x3 conv+SiLU blocks of every box / class branch.
# `fsilu`: SiLU (Sigmoid, Mul) stays float between int8 convs, where onnxruntime fuses it (QuickGelu).
SILU = ("Sigmoid", "Mul")
HEAD_BODY = re.compile(r"/model\.\d+/cv[23]\.\d/cv[23]\.\d\.[01]/")


def head_exclusions(model: Path, head: str) -> list[str]:
    """Nodes of the Detect head to keep in float: `all` of it, or (`last`) all but its 3x3 conv blocks."""
    import onnx

    graph = onnx.load(str(model)).graph
    prefix = "/" + next(n.name.split("/")[1] for n in reversed(graph.node) if n.name.startswith("/model.")) + "/"
    in_head = [n.name for n in graph.node if n.name.startswith(prefix)]
    if head == "all":
        return in_head
    return [n for n in in_head if not HEAD_BODY.match(n)]


def quantize_qdq(
    fp32: Path, out: Path, images: list[np.ndarray], method: str, exclude: list[str], flags: Set[str] = frozenset()
) -> Path:
    """Static int8 QDQ of `fp32` into `out`: per-channel int8 weights, activations calibrated on `images` by
    onnxruntime's `method` (MinMax, Percentile at 99.999 %, Entropy), the nodes in `exclude` left in float.

    `flags`: `rr` reduce_range (7-bit weights), `sym` symmetric int8 activations, `fsilu` SiLU in float."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    det = OnnxDetector(fp32)
    blobs = [det.preprocess([img])[0] for img in images]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(blobs)

        def get_next(self) -> dict | None:
            b = next(self.it, None)
            return None if b is None else {det.input_name: b}

    symmetric = "sym" in flags
    # Calibration outputs are flushed every `chunk` images to bound memory; onnxruntime's MinMax raises
    # "No data is collected" when the count is a multiple of it, so the chunk never divides it.
    chunk = next(k for k in range(50, 30, -1) if len(blobs) % k)
    quantize_static(
        str(fp32),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        reduce_range="rr" in flags,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
        nodes_to_exclude=exclude,
        op_types_to_quantize=[t for t in {*QDQRegistry, *QLinearOpsRegistry} if "fsilu" not in flags or t not in SILU],
        calibrate_method=CalibrationMethod[method],
        extra_options={
            "ActivationSymmetric": symmetric,
            "CalibPercentile": 99.999,
            "CalibMaxIntermediateOutputs": chunk,
        },
    )
    # Keep the Ultralytics metadata (names, imgsz, task) the detector reads.
    src, dst = onnx.load(str(fp32)), onnx.load(str(out))
    del dst.metadata_props[:]
    dst.metadata_props.extend(src.metadata_props)
    onnx.save(dst, str(out))
    return out
