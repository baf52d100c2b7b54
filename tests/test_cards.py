"""Model cards: the packaged cards match the shared model files; resolution, validation and errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import yaml
from conftest import shared_file

from xuncha.cli import main
from xuncha.detector.cards import find_card, list_cards, load_detector, model_dirs, resolve_file
from xuncha.detector.modelcard import load_card
from xuncha.detector.onnx import ModelError, file_checksum
from xuncha.yamlfile import ConfigError

NAMES = ["garbage", "yolo11n_coco_int8_320", "yolov8n_coco_int8", "yolox_nano_coco"]


@pytest.fixture
def models(monkeypatch) -> Path:
    """The shared models directory, also given as XUNCHA_MODEL_DIRS so cards find their files."""
    path = shared_file("models")
    monkeypatch.setenv("XUNCHA_MODEL_DIRS", str(path))
    return path


def write_card(path: Path, **fields) -> Path:
    card = find_card("yolox_nano_coco").model_dump(mode="json", exclude_none=True)
    card.update(fields)
    path.write_text(yaml.safe_dump(card), encoding="utf-8")
    return path


def test_packaged_cards_match_the_shared_files(models):
    cards = list_cards()
    assert sorted(c.name for c in cards) == NAMES
    for card in cards:
        path = resolve_file(card)
        # The shared COCO models live in ../shared/data/models; the trained model ships beside its card.
        assert path in (models / f"{card.name}.onnx", card.card_path.parent / card.file)
        assert file_checksum(path) == card.checksum
        assert hashlib.md5(path.read_bytes()).hexdigest().startswith(card.md5)
        assert card.card_path.parent.name == "models" and card.licence and card.source


def test_card_files_resolve_absolute_beside_the_card_then_model_dirs(tmp_path, models, monkeypatch):
    real = models / "yolox_nano_coco.onnx"
    assert resolve_file(load_card(write_card(tmp_path / "abs.yaml", file=str(real)))) == real
    beside = tmp_path / "beside"
    beside.mkdir()
    (beside / "yolox_nano_coco.onnx").symlink_to(real)
    assert resolve_file(load_card(write_card(beside / "c.yaml"))) == beside / "yolox_nano_coco.onnx"
    other = tmp_path / "other"
    other.mkdir()
    (other / "renamed.onnx").symlink_to(real)
    monkeypatch.setenv("XUNCHA_MODEL_DIRS", os.pathsep.join([str(tmp_path / "empty"), str(other)]))
    assert model_dirs()[:2] == [tmp_path / "empty", other]
    assert resolve_file(load_card(write_card(tmp_path / "r.yaml", file="renamed.onnx"))) == other / "renamed.onnx"
    card = load_card(write_card(tmp_path / "gone.yaml", file="gone.onnx"))
    with pytest.raises(ModelError, match=r"model card 'yolox_nano_coco' \(.*gone.yaml\): file 'gone.onnx' not found"):
        resolve_file(card)


def test_invalid_cards_name_file_and_field(tmp_path):
    both = write_card(tmp_path / "both.yaml", classes_from="metadata")
    with pytest.raises(ConfigError, match=r"both.yaml: .*\n.*exactly one of `classes`"):
        load_card(both)
    bad = write_card(tmp_path / "bad.yaml", checksum="md5:1234", family="detr")
    with pytest.raises(ConfigError, match=r"bad.yaml: 2 invalid field\(s\)") as e:
        load_card(bad)
    assert "  family:" in str(e.value) and "  checksum:" in str(e.value)
    with pytest.raises(ConfigError, match="nowhere.yaml: file not found"):
        load_card(tmp_path / "nowhere.yaml")


def test_checksum_mismatch_is_a_clear_error(tmp_path, models):
    card = write_card(tmp_path / "c.yaml", file=str(models / "yolox_nano_coco.onnx"), checksum="sha256:" + "0" * 64)
    with pytest.raises(ModelError, match=r"checksum sha256:e8af0749.* does not match card 'yolox_nano_coco'"):
        load_detector(str(card))


def test_load_detector_by_name_card_path_and_onnx_path(tmp_path, models):
    assert load_detector("yolox_nano_coco", threads=1).name == "yolox_nano_coco"
    card = write_card(tmp_path / "mine.yaml", name="my_yolox", file=str(models / "yolox_nano_coco.onnx"))
    assert load_detector(str(card), threads=1).name == "my_yolox"
    # An .onnx path: the card beside it with the same stem wins ...
    (tmp_path / "mine.onnx").symlink_to(models / "yolox_nano_coco.onnx")
    det = load_detector(str(tmp_path / "mine.onnx"), threads=1, conf=0.5)
    assert (det.name, det.family, det.conf) == ("my_yolox", "yolox", 0.5)
    # ... else a known card with the same checksum (YOLOX has no metadata to read names from) ...
    assert load_detector(str(models / "yolox_nano_coco.onnx"), threads=1).labels[0] == "person"
    # ... and an Ultralytics export needs no card at all.
    (tmp_path / "v8.onnx").symlink_to(models / "yolov8n_coco_int8.onnx")
    assert load_detector(str(tmp_path / "v8.onnx"), threads=1, card_dirs=[tmp_path]).name == "yolov8n_coco_int8"
    with pytest.raises(ModelError, match="no model card named 'nope'; known: garbage, yolo11n_coco_int8_320, "):
        load_detector("nope")


def test_extra_card_dirs_add_and_override(tmp_path, models):
    write_card(tmp_path / "a.yaml", name="yolox_nano_coco", notes="local copy")
    write_card(tmp_path / "b.yml", name="extra_model")
    cards = {c.name: c for c in list_cards([tmp_path])}
    assert sorted(cards) == sorted([*NAMES, "extra_model"])
    assert cards["yolox_nano_coco"].notes == "local copy"
    with pytest.raises(ConfigError, match="missing: model card directory not found"):
        list_cards([tmp_path / "missing"])


def test_cli_models_list_and_show(models, capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "family", "input", "classes", "file"]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert sorted(rows) == NAMES
    assert rows["yolox_nano_coco"][1:5] == ["yolox", "416x416", "80", str(models / "yolox_nano_coco.onnx")]
    assert rows["yolov8n_coco_int8"][1:4] == ["ultralytics", "640x640", "metadata"]
    assert main(["models", "show", "yolo11n_coco_int8_320"]) == 0
    out = capsys.readouterr().out
    assert "input_size: [320, 320]" in out and "classes_from: metadata" in out
    assert f"found: {models / 'yolo11n_coco_int8_320.onnx'}" in out
    assert main(["models", "show", "nope"]) == 2
    assert "no model card named 'nope'" in capsys.readouterr().err


def test_cli_models_show_reports_a_missing_file(tmp_path, monkeypatch, capsys):
    write_card(tmp_path / "ghost.yaml", name="ghost", file="ghost.onnx")
    monkeypatch.setenv("XUNCHA_MODEL_DIRS", str(tmp_path))
    assert main(["models", "show", "ghost", "--card-dir", str(tmp_path)]) == 1
    assert "found: not found (model card 'ghost'" in capsys.readouterr().out


def test_a_cards_threshold_lowers_the_score_floor_never_raises_it(tmp_path, models):
    """A trained model's rules use its card's best-F1 threshold: the worker-wide floor must not cut below."""
    low = write_card(
        tmp_path / "low.yaml", name="low", file=str(models / "yolox_nano_coco.onnx"), metrics={"threshold": 0.1}
    )
    high = write_card(
        tmp_path / "high.yaml", name="high", file=str(models / "yolox_nano_coco.onnx"), metrics={"threshold": 0.6}
    )
    assert load_detector(str(low), threads=1, conf=0.25).conf == 0.1
    assert load_detector(str(high), threads=1, conf=0.25).conf == 0.25
