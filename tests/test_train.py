"""`xuncha train`: converted COCO weights reproduce the ONNX model; 1 epoch trains, exports and runs in xuncha."""

from __future__ import annotations

import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml
from conftest import shared_file

import xuncha
from xuncha.cli import main
from xuncha.detector.cards import load_detector

pytest.importorskip("ultralytics", reason="needs the [train] extra")
os.environ.setdefault("YOLO_OFFLINE", "1")


def frame_at(path: Path, t: float) -> np.ndarray:
    with av.open(str(path)) as c:
        return next(f.to_ndarray(format="bgr24") for f in c.decode(video=0) if f.time >= t)


@pytest.mark.parametrize(("model", "least"), [("yolov8n_coco_int8.onnx", 15), ("yolo11n_coco_int8_320.onnx", 8)])
def test_converted_weights_reproduce_the_onnx_detections(model: str, least: int, tmp_path: Path) -> None:
    from xuncha.train.convert import convert

    path = shared_file(f"models/{model}")
    frame = frame_at(shared_file("footage/shopping_street.mp4"), 1.0)
    photos = sorted(shared_file("datasets/street_trashbags/train/images").iterdir())[::20]
    result = convert(path, photos, [frame], tmp_path / "init.pt")
    assert result.ok and result.matched >= least and result.mean_iou > 0.95, result
    assert (tmp_path / "init.pt").stat().st_size > 1_000_000
    # BatchNorm carries real statistics now (identity BatchNorm would not train), yet the detections held.
    import torch

    model = torch.load(tmp_path / "init.pt", weights_only=False)["model"]
    variances = [float(m.running_var.mean()) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert variances and sum(abs(v - 1) > 0.1 for v in variances) > 0.75 * len(variances)


@pytest.mark.parametrize("file", ["garbage_fp32.onnx", "garbage.onnx"])
def test_a_trained_one_class_model_converts_to_continue_training(file: str, tmp_path: Path) -> None:
    """The shipped garbage model keeps COCO's class-branch width with one class; checked on bag photos.

    Its fp32 file is the one to train on; the shipped static int8 file (per-channel weights, int32 biases)
    converts too."""
    from xuncha.train.convert import convert

    photos = sorted(shared_file("datasets/street_trashbags/train/images").iterdir())[::25]
    checks = [cv2.imread(str(p)) for p in photos[::3]]
    result = convert(Path(xuncha.__file__).parent / "models" / file, photos, checks, tmp_path / "init.pt")
    assert result.ok and result.matched >= 5 and result.mean_iou > 0.95, result
    import torch

    head = torch.load(tmp_path / "init.pt", weights_only=False)["model"].model[-1]
    assert head.nc == 1 and all(branch[-1].out_channels == 1 for branch in head.cv3)


def test_one_epoch_trains_exports_and_runs_in_the_detector(tiny_set: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["train", "--data", str(tiny_set), "--run", str(run), "--name", "tinybag", "--epochs", "1", "--batch", "4"]
    args += ["--weights", str(shared_file("models/yolo11n_coco_int8_320.onnx")), "--export-imgsz", "320"]
    args += ["--footage", str(shared_file("footage")), "--cctv-negatives", "2", "--dark-share", "0.5"]
    args += ["--cctv-train", "6", "--cctv-val", "3"]
    assert main(args) == 0
    card = yaml.safe_load((run / "tinybag.yaml").read_text())
    assert card["command"].startswith("xuncha train --data ") and "--epochs 1" in card["command"]
    assert set(card["metrics"]) >= {"test_photos_map50", "test_photos_map50_95"}
    det = load_detector(run / "tinybag.yaml", threads=1, conf=0.001)
    assert det.labels == ["garbage"] and det.input_size == (320, 320)
    out = det.detect_one(frame_at(shared_file("footage/sidewalk_bag_left.avi"), 20.0))
    assert all(d.label == "garbage" and d.model == "tinybag" for d in out)
    assert sum(1 for p in (run / "data" / "train" / "images").iterdir() if p.name.startswith("cctv_")) == 6
    # Hard negatives: two background-only frames per camera, the car park's included, with empty labels.
    negatives = sorted((run / "data" / "train" / "labels").glob("negative_*.txt"))
    assert len(negatives) == 2 * 4 and any("carpark" in p.name for p in negatives)
    assert all(p.read_text() == "" for p in negatives)
    assert "--cctv-negatives 2 --dark-share 0.5" in card["command"]
    # Rerunning the command finds every step done and changes nothing.
    before = (run / "tinybag.onnx").stat().st_mtime_ns
    assert main(args) == 0
    assert (run / "tinybag.onnx").stat().st_mtime_ns == before
    # Other options for the same run folder are refused, naming the option.
    assert main([*args[:-2], "--cctv-val", "4"]) == 2


def test_malformed_data_set_stops_the_command_naming_file_and_line(tmp_path: Path, capsys) -> None:
    data = tmp_path / "set"
    (data / "train" / "images").mkdir(parents=True)
    (data / "train" / "labels").mkdir(parents=True)
    (data / "train" / "images" / "a.jpg").write_bytes(b"")
    (data / "train" / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1\n")
    code = main(["train", "--data", str(data), "--run", str(tmp_path / "run"), "--scratch"])
    assert code == 2
    assert f"{data / 'train' / 'labels' / 'a.txt'}:2: 3 coordinates" in capsys.readouterr().err


def test_static_int8_quantisation_keeps_the_fp32_detections(tmp_path: Path) -> None:
    """QDQ int8 of the fp32 garbage model with the head's last layers in float: the same bags on held-back
    training photos, int8 convolutions in the graph, and the metadata the detector reads kept."""
    import onnx

    from xuncha.detector.onnx import OnnxDetector
    from xuncha.train.quantize import head_exclusions, quantize_qdq
    from xuncha.types import iou

    fp32 = Path(xuncha.__file__).parent / "models" / "garbage_fp32.onnx"
    photos = sorted(shared_file("datasets/street_trashbags/train/images").iterdir())
    calibration = [cv2.imread(str(p)) for p in photos[:200:12]]
    out = quantize_qdq(fp32, tmp_path / "q.onnx", calibration, "Percentile", head_exclusions(fp32, "last"))
    graph = onnx.load(str(out))
    assert sum(n.op_type == "QuantizeLinear" for n in graph.graph.node) > 50
    assert {p.key for p in graph.metadata_props} >= {"names", "imgsz"}
    a, b = OnnxDetector(fp32, conf=0.25), OnnxDetector(out, conf=0.25)
    found = kept = 0
    for path in photos[300:340:4]:
        img = cv2.imread(str(path))
        ours, theirs = b.detect([img])[0], a.detect([img])[0]
        found += len(theirs)
        kept += sum(any(iou(t.box, o.box) >= 0.7 for o in ours) for t in theirs)
    assert found >= 20 and kept >= 0.8 * found, (kept, found)
