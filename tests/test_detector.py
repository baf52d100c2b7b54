"""OnnxDetector on the real shared models and footage, against an independent reference decode,
plus tiny synthetic ONNX models for batching and error paths."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import onnx
import pytest
from conftest import shared_file
from onnx import TensorProto, helper, numpy_helper

from xuncha.cli import main
from xuncha.detector.cards import find_card
from xuncha.detector.onnx import ModelError, OnnxDetector
from xuncha.detector.pool import DetectorPool
from xuncha.types import Detection, iou

MODELS = ("yolov8n_coco_int8", "yolo11n_coco_int8_320", "yolox_nano_coco")

# Checked by eye on frame 0.0 s of shopping_street.mp4 (annotated JPEG viewed): four walking people.
PEOPLE_T0 = [(121, 198, 156, 296), (157, 197, 193, 298), (520, 283, 570, 384), (253, 157, 285, 229)]
# Frame 1.0 s: a woman walking a bicycle at the top right (checked by eye on a 3x crop).
BIKE_T1 = (550, 60, 564, 90)
WALKER_T1 = (551, 40, 577, 90)
# People found at the default conf 0.25 in frames 0.0 s / 2.0 s (about 20 people are visible; the
# int8 exports score distant people low and the 320 px model misses the small ones).
PEOPLE_COUNTS = {
    "yolov8n_coco_int8": (13, 17),
    "yolo11n_coco_int8_320": (8, 8),
    "yolox_nano_coco": (15, 18),
}


@pytest.fixture(scope="module")
def street() -> dict[float, np.ndarray]:
    """Frames at 0, 1 and 2 s of shopping_street.mp4 (690x388, 10 fps)."""
    path = shared_file("footage/shopping_street.mp4")
    with av.open(str(path)) as c:
        frames = {round(f.time, 1): f.to_ndarray(format="bgr24") for f in c.decode(video=0) if f.time <= 2.0}
    return {t: frames[t] for t in (0.0, 1.0, 2.0)}


@pytest.fixture(scope="module")
def sidewalk() -> np.ndarray:
    """Frame at 20 s of sidewalk_bag_left.avi (720x480): one man walking."""
    path = shared_file("footage/sidewalk_bag_left.avi")
    with av.open(str(path)) as c:
        return next(f.to_ndarray(format="bgr24") for f in c.decode(video=0) if f.time >= 20.0)


@pytest.fixture(scope="module")
def detectors() -> dict[str, OnnxDetector]:
    return {n: OnnxDetector(shared_file(f"models/{n}.onnx"), find_card(n), threads=1) for n in MODELS}


def people(dets: list[Detection]) -> list[Detection]:
    return [d for d in dets if d.label == "person"]


def match(a: list[Detection], b: list[Detection], min_iou: float) -> list[tuple[Detection, Detection]]:
    """Greedy one-to-one IoU matching of same-label detections, best pairs first."""
    pairs = sorted(
        ((iou(x.box, y.box), i, j) for i, x in enumerate(a) for j, y in enumerate(b) if x.label == y.label),
        reverse=True,
    )
    used_a, used_b, out = set(), set(), []
    for v, i, j in pairs:
        if v >= min_iou and i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            out.append((a[i], b[j]))
    return out


# -- real models on real footage -------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_loads_family_labels_and_size(detectors, name):
    det = detectors[name]
    assert det.name == name
    assert det.family == ("yolox" if name.startswith("yolox") else "ultralytics")
    assert det.input_size == {"yolov8n_coco_int8": (640, 640), "yolo11n_coco_int8_320": (320, 320)}.get(
        name, (416, 416)
    )
    assert len(det.labels) == 80 and det.labels[:4] == ["person", "bicycle", "car", "motorcycle"]
    assert det.checksum == find_card(name).checksum
    assert det.batch == 1


@pytest.mark.parametrize("name", MODELS)
def test_finds_the_people_in_the_shopping_street(detectors, street, name):
    det = detectors[name]
    for t, expected in zip((0.0, 2.0), PEOPLE_COUNTS[name], strict=True):
        found = people(det.detect_one(street[t]))
        assert len(found) == pytest.approx(expected, abs=1), f"{name} at {t}s"
        assert all(d.model == name and d.score > 0.25 for d in found)
        h, w = street[t].shape[:2]
        assert all(0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h for x1, y1, x2, y2 in (d.box for d in found))
    found = people(det.detect_one(street[0.0]))
    for box in PEOPLE_T0:
        assert max(iou(box, d.box) for d in found) > 0.65, f"{name} misses the person at {box}"


@pytest.mark.parametrize(
    "name, walker, bicycle",
    [("yolov8n_coco_int8", True, True), ("yolo11n_coco_int8_320", False, False), ("yolox_nano_coco", True, False)],
)
def test_person_walking_a_bicycle(detectors, street, name, walker, bicycle):
    """At conf 0.1, YOLOv8n finds the woman and her bicycle (0.21), YOLOX only the woman, and the
    320 px model neither (she is 26x50 px, the bike 14x30 px, in the 690x388 frame)."""
    found = OnnxDetector(detectors[name].path, find_card(name), threads=1, conf=0.1).detect_one(street[1.0])
    assert any(iou(WALKER_T1, d.box) > 0.75 for d in people(found)) == walker
    assert any(d.label == "bicycle" and iou(BIKE_T1, d.box) > 0.75 for d in found) == bicycle


def test_person_on_the_sidewalk(detectors, sidewalk):
    for name, det in detectors.items():
        found = people(det.detect_one(sidewalk))
        assert len(found) == 1, name
        assert iou(found[0].box, (337, 236, 392, 404)) > 0.7, (name, found[0].box)


def test_yolox_and_ultralytics_agree_on_people(detectors, street):
    for t in (0.0, 2.0):
        yolox = people(detectors["yolox_nano_coco"].detect_one(street[t]))
        for name in ("yolov8n_coco_int8", "yolo11n_coco_int8_320"):
            other = people(detectors[name].detect_one(street[t]))
            pairs = match(yolox, other, 0.5)
            # Nearly every person the weaker model finds, YOLOX finds at the same place.
            assert len(pairs) >= 0.8 * len(other), (t, name, len(pairs), len(yolox), len(other))
            assert np.median([iou(a.box, b.box) for a, b in pairs]) > 0.75


@pytest.mark.parametrize("name", MODELS)
def test_batch_of_four_equals_four_single_calls(detectors, street, sidewalk, name):
    det = detectors[name]
    images = [street[0.0], sidewalk, street[2.0][50:, 100:], cv2.resize(street[1.0], (1280, 720))]
    batched = det.detect(images)
    assert batched == [det.detect_one(img) for img in images]
    assert all(len(people(r)) >= 1 for r in batched)
    assert set(det.last_timing) == {"pre", "infer", "post"} and det.last_timing["infer"] > 0


def test_pool_runs_batches_at_once_and_keeps_the_frames_order(detectors, street, sidewalk):
    """Batches on two threads give exactly the serial results, frame for frame, and overlap in time."""
    det = detectors["yolox_nano_coco"]
    images = [street[0.0], sidewalk, street[2.0], street[1.0][40:, :], sidewalk[::-1].copy()] * 2
    serial = [det.detect_one(img) for img in images]
    pool = DetectorPool(2)
    active, peak = 0, 0
    original = det.detect

    def counting(batch):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            return original(batch)
        finally:
            active -= 1

    det.detect = counting
    try:
        assert pool.detect(det, images, batch_size=2) == serial
    finally:
        del det.detect
    assert peak == 2  # 5 batches of 2 on 2 threads: two ran at the same time


# -- an independent reference decode: raw session output, own letterbox, decode and NMS ------------


def ref_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    order, keep = list(np.argsort(-scores)), []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if iou(tuple(boxes[i]), tuple(boxes[j])) <= thr]
    return keep


def reference_detect(det: OnnxDetector, image: np.ndarray, conf=0.25, nms=0.45) -> list[Detection]:
    w_in, h_in = det.input_size
    h0, w0 = image.shape[:2]
    r = min(w_in / w0, h_in / h0)
    canvas = np.full((h_in, w_in, 3), 114, np.uint8)
    if det.family == "yolox":  # top-left, truncated size, BGR 0-255
        nw, nh = int(w0 * r), int(h0 * r)
        left = top = 0
        canvas[:nh, :nw] = cv2.resize(image, (nw, nh))
        x = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    else:  # centred, rounded size, RGB 0-1
        nw, nh = round(w0 * r), round(h0 * r)
        left, top = (w_in - nw) // 2, (h_in - nh) // 2
        canvas[top : top + nh, left : left + nw] = cv2.resize(image, (nw, nh))
        x = canvas[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
    raw = det.session.run(None, {det.session.get_inputs()[0].name: x})[0][0]
    if det.family == "yolox":
        rows = []
        for s in (8, 16, 32):
            for gy in range(h_in // s):
                for gx in range(w_in // s):
                    rows.append((gx, gy, s))
        g = np.array(rows, np.float32)
        cxcy = (raw[:, :2] + g[:, :2]) * g[:, 2:]
        wh = np.exp(raw[:, 2:4]) * g[:, 2:]
        cls_scores = raw[:, 5:] * raw[:, 4:5]
    else:
        cxcy, wh, cls_scores = raw[:2].T, raw[2:4].T, raw[4:].T
    labels, scores = cls_scores.argmax(1), cls_scores.max(1)
    ok = scores > conf
    boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], 1)[ok]
    labels, scores = labels[ok], scores[ok]
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        for k in ref_nms(boxes[idx], scores[idx], nms):
            b = (boxes[idx[k]] - [left, top, left, top]) / r
            b = np.clip(b, 0, [w0, h0, w0, h0])
            out.append(Detection(det.labels[c], float(scores[idx[k]]), tuple(b.tolist())))
    return out


@pytest.mark.parametrize("name", MODELS)
def test_agrees_with_reference_decode(detectors, street, sidewalk, name):
    det = detectors[name]
    for image in (street[0.0], street[2.0], sidewalk):
        ours, ref = det.detect_one(image), reference_detect(det, image)
        pairs = match(ours, ref, 0.95)
        assert len(ours) == len(ref) == len(pairs), (name, len(ours), len(ref), len(pairs))
        assert all(abs(a.score - b.score) < 1e-3 for a, b in pairs)


# -- synthetic models: batching, metadata, errors ---------------------------------------------------


def synthetic_model(
    path: Path, *, batch: int | str = "batch", out_shape: tuple[int, int] = (6, 84), metadata: bool = True
) -> Path:
    """A 64x64 Ultralytics-style detector: one box (cx 32, cy 32, 16x16) of class 'b' at cell 0,
    scored by the input's mean value; output B x 6 x 84 (4 + 2 classes, 84 grid cells)."""
    base = np.zeros((1, *out_shape), np.float32)
    mask = np.zeros((1, *out_shape), np.float32)
    base[0, :4, 0] = (32, 32, 16, 16)
    mask[0, 5, 0] = 1.0
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["m", "shape"], ["m3"]),
        helper.make_node("Mul", ["m3", "mask"], ["scored"]),
        helper.make_node("Add", ["scored", "base"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape"),
        numpy_helper.from_array(mask, "mask"),
        numpy_helper.from_array(base, "base"),
    ]
    graph = helper.make_graph(
        nodes,
        "synthetic",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, *out_shape])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        for k, v in {"names": "{0: 'a', 1: 'b'}", "imgsz": "[64, 64]", "task": "detect", "stride": "32"}.items():
            model.metadata_props.add(key=k, value=v)
    onnx.save(model, path)
    return path


def count_runs(det: OnnxDetector) -> list[int]:
    """Spy on the real session: records the batch size of each run."""
    sizes, run = [], det.session.run

    def spy(names, feed):
        sizes.append(len(next(iter(feed.values()))))
        return run(names, feed)

    det.session.run = spy
    return sizes


def grey(value: int, w: int = 64, h: int = 64) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_dynamic_batch_runs_once(tmp_path):
    det = OnnxDetector(synthetic_model(tmp_path / "dyn.onnx"), conf=0.25)
    assert (det.family, det.batch, det.labels, det.input_size) == ("ultralytics", None, ["a", "b"], (64, 64))
    images = [grey(255), grey(0), grey(128), grey(200)]
    runs = count_runs(det)
    batched = det.detect(images)
    assert runs == [4]
    assert batched == [det.detect_one(img) for img in images]
    assert [len(r) for r in batched] == [1, 0, 1, 1]
    white = batched[0][0]
    assert (white.label, white.box, white.model) == ("b", (24.0, 24.0, 40.0, 40.0), "dyn")
    assert white.score == pytest.approx(1.0)
    assert batched[2][0].score == pytest.approx(128 / 255, abs=1e-5)


def test_letterbox_is_undone_in_source_pixels(tmp_path):
    det = OnnxDetector(synthetic_model(tmp_path / "dyn.onnx"))
    (d,) = det.detect_one(grey(255, w=128, h=64))
    # 128x64 -> 64x32 at gain 0.5, centred with 16 px of grey 114 above and below.
    assert d.box == (48.0, 16.0, 80.0, 48.0)
    assert d.score == pytest.approx((255 + 114) / 2 / 255, abs=1e-5)


def test_static_batch_of_two_runs_in_padded_chunks(tmp_path):
    det = OnnxDetector(synthetic_model(tmp_path / "b2.onnx", batch=2))
    assert det.batch == 2
    images = [grey(255), grey(128), grey(200)]
    runs = count_runs(det)
    batched = det.detect(images)
    assert runs == [2, 2]
    assert [d.score for r in batched for d in r] == pytest.approx([1.0, 128 / 255, 200 / 255], abs=1e-5)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(ModelError, match="missing.onnx: model file not found"):
        OnnxDetector(tmp_path / "missing.onnx")
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model")
    with pytest.raises(ModelError, match="notes.onnx: not a loadable ONNX model"):
        OnnxDetector(text)
    odd = synthetic_model(tmp_path / "odd.onnx", out_shape=(7, 13))
    with pytest.raises(ModelError, match=r"odd.onnx: output shape \[1, 7, 13\] not understood"):
        OnnxDetector(odd)
    bare = synthetic_model(tmp_path / "bare.onnx", metadata=False)
    with pytest.raises(ModelError, match="bare.onnx: no class names"):
        OnnxDetector(bare)


def test_card_that_contradicts_the_model():
    path = shared_file("models/yolov8n_coco_int8.onnx")
    card = find_card("yolov8n_coco_int8")
    with pytest.raises(ModelError, match=r"input_size \[320, 320\].*model takes \[640, 640\]"):
        OnnxDetector(path, card.model_copy(update={"input_size": (320, 320)}))
    with pytest.raises(ModelError, match="classes differ from the metadata"):
        OnnxDetector(path, card.model_copy(update={"classes": ["a", "b"], "classes_from": None}))
    with pytest.raises(ModelError, match="is family 'yolox'"):
        OnnxDetector(path, card.model_copy(update={"family": "yolox"}))
    yolox = find_card("yolox_nano_coco")
    with pytest.raises(ModelError, match="card 'yolox_nano_coco' lists 3 classes, model outputs 80"):
        OnnxDetector(shared_file("models/yolox_nano_coco.onnx"), yolox.model_copy(update={"classes": ["a"] * 3}))


def test_rejects_images_that_are_not_bgr_uint8(detectors):
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        detectors["yolox_nano_coco"].detect_one(np.zeros((10, 10), np.uint8))
    assert detectors["yolox_nano_coco"].detect([]) == []


# -- the command line -------------------------------------------------------------------------------


def test_cli_detect_video_samples_and_saves(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XUNCHA_MODEL_DIRS", str(shared_file("models")))
    video = shared_file("footage/shopping_street.mp4")
    rc = main(["detect", "--model", "yolox_nano_coco", str(video), "--every", "2", "--save", str(tmp_path)])
    assert rc == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["frame_time"] for line in lines] == [0.0, 2.0, 4.0]
    for line in lines:
        assert line["source"] == str(video)
        assert sum(d["label"] == "person" for d in line["detections"]) >= 12
        assert all(len(d["box"]) == 4 and 0.25 < d["score"] <= 1 for d in line["detections"])
    saved = sorted(p.name for p in tmp_path.glob("*.jpg"))
    assert saved == ["shopping_street_00000.000.jpg", "shopping_street_00002.000.jpg", "shopping_street_00004.000.jpg"]
    assert cv2.imread(str(tmp_path / saved[0])).shape == (388, 690, 3)


def test_cli_detect_image_with_onnx_path(tmp_path, street, capsys):
    image = tmp_path / "street.png"
    cv2.imwrite(str(image), street[0.0])
    model = shared_file("models/yolov8n_coco_int8.onnx")
    assert main(["detect", "--model", str(model), str(image), "--conf", "0.5"]) == 0
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["frame_time"] is None
    assert 8 <= len(line["detections"]) <= 13 and all(d["score"] > 0.5 for d in line["detections"])


def test_cli_errors_are_short(tmp_path, capsys):
    assert main(["detect", "--model", str(tmp_path / "none.onnx"), str(tmp_path / "x.jpg")]) == 2
    assert "none.onnx: model file not found" in capsys.readouterr().err
    model = shared_file("models/yolox_nano_coco.onnx")
    assert main(["detect", "--model", str(model), str(tmp_path / "x.mp4")]) == 2
    assert "x.mp4: file not found" in capsys.readouterr().err
