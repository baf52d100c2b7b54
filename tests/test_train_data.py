"""Training data: the split by source photo does not leak, malformed data sets name file and line."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_file

from xuncha.train.composite import DARK_GROUND_RATIO, CutoutLibrary, recolour_dark
from xuncha.train.prepare import DatasetError, prepare
from xuncha.train.split import SPLITS, STREET_TRASHBAGS_SPLIT, load_split, source_photo, split_photos, write_split
from xuncha.yamlfile import ConfigError


@pytest.fixture(scope="module")
def trashbags() -> Path:
    return shared_file("datasets/street_trashbags")


def test_committed_split_is_the_rule_applied_to_the_data_set(trashbags: Path, tmp_path: Path) -> None:
    fresh = write_split(trashbags, tmp_path / "split.json")
    assert fresh == load_split(STREET_TRASHBAGS_SPLIT)
    doc = json.loads(STREET_TRASHBAGS_SPLIT.read_text())
    assert {s: len(doc[s]) for s in SPLITS} == {"train": 102, "val": 22, "test": 22}  # 146 source photos


def test_prepared_splits_share_no_source_photo(trashbags: Path, tmp_path: Path) -> None:
    out = prepare(trashbags, tmp_path / "data", STREET_TRASHBAGS_SPLIT, one_class="garbage")
    assert out.names == ["garbage"]
    assert out.duplicates == 146  # each source photo has one byte-identical copy, kept once
    sources = {s: {source_photo(p.name) for p in (tmp_path / "data" / s / "images").iterdir()} for s in SPLITS}
    assert not sources["train"] & sources["val"]
    assert not sources["train"] & sources["test"]
    assert not sources["val"] & sources["test"]
    # Roboflow's own folders leak: some photo of its train folder is in our test split.
    roboflow_train = {source_photo(p.name) for p in (trashbags / "train" / "images").iterdir()}
    assert roboflow_train & sources["test"]
    # Polygons became boxes: 5 numbers a line, all objects class 0.
    label = next((tmp_path / "data" / "test" / "labels").iterdir()).read_text().split("\n")[0].split()
    assert len(label) == 5 and label[0] == "0"


def test_cutouts_for_evaluation_come_from_test_photos_only(trashbags: Path) -> None:
    test = {source_photo(p.name) for p in split_photos(trashbags, "test")}
    lib = CutoutLibrary(trashbags)
    assert lib.refs and all(source_photo(r.split("#")[0]) in test for r in lib.refs)
    train_ref = CutoutLibrary(trashbags, "train").refs[0]
    with pytest.raises(ConfigError, match="not one of the test photos"):
        lib.get(train_ref)


def _tiny_dataset(root: Path, label_text: str) -> Path:
    for s in ("train", "valid"):
        (root / s / "images").mkdir(parents=True)
        (root / s / "labels").mkdir(parents=True)
        cv2.imwrite(str(root / s / "images" / f"{s}1.jpg"), np.full((32, 32, 3), 128, np.uint8))
        (root / s / "labels" / f"{s}1.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("names: [bag]\n")
    (root / "valid" / "labels" / "valid1.txt").write_text(label_text)
    return root


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 0.5 0.5 0.2 0.2\n0 0.5 zero 0.2 0.2\n", "valid1.txt:2: expected 'class x y ...' numbers"),
        ("3 0.5 0.5 0.2 0.2\n", "valid1.txt:1: class 3 outside 0..0"),
        ("0 0.5 0.5 0.2\n0 0.1 0.1 0.2 0.2 0.3\n", "valid1.txt:1: 3 coordinates"),
        ("0 50 60 20 20\n", "valid1.txt:1: coordinates must be normalised"),
    ],
)
def test_malformed_label_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    data = _tiny_dataset(tmp_path / "set", text)
    with pytest.raises(DatasetError, match=message):
        prepare(data, tmp_path / "out")


def test_missing_data_set_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nowhere: data set directory not found"):
        prepare(tmp_path / "nowhere", tmp_path / "out")


def test_dark_recolouring_keeps_the_folds_and_lands_in_the_real_bags_range() -> None:
    """A white bag with folds becomes a dark one (0.35-0.9x the ground, like the real bag), folds kept."""
    bag = np.full((20, 20, 3), 230.0, np.float32)
    bag[:, 8:11] = 120.0  # a fold
    rng = np.random.default_rng(3)
    for _ in range(20):
        out = recolour_dark(bag, ground=80.0, rng=rng)
        grey = out.mean(axis=2)
        assert DARK_GROUND_RATIO[0] * 80 * 0.8 <= grey.mean() <= DARK_GROUND_RATIO[1] * 80 * 1.2
        assert grey[:, 9].mean() < grey[:, 2].mean()  # the fold stays darker than the bag around it
