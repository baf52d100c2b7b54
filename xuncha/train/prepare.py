"""A YOLO detection data set for one training run, checked line by line, split by source photo.

Input is any YOLO-format directory: ``images/`` folders with a ``labels/`` folder beside each
(``train/images``, ``valid/images``... as Roboflow writes them, or ``images/train`` with ``labels/train``).
A label line is ``class cx cy w h`` or a segmentation polygon ``class x1 y1 x2 y2 ...`` (all 0-1);
polygons become their bounding boxes. Every image is re-split by source photo (`split.py`), exact
duplicate images are kept once, and the result is written into the run folder as
``data/{train,val,test}/{images,labels}`` (images are symlinks) plus ``data/data.yaml`` with absolute
paths and no ``download:`` key. Errors name the file and the line.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from xuncha.train.split import SPLITS, Split, dataset_images, load_split, source_photo, write_split
from xuncha.yamlfile import ConfigError, read_yaml


class DatasetError(ConfigError):
    """A data set is missing or malformed; the message names the file (and line)."""


@dataclass(frozen=True)
class Box:
    """One labelled object: class index and normalised centre-x, centre-y, width, height."""

    cls: int
    cx: float
    cy: float
    w: float
    h: float

    def line(self) -> str:
        return f"{self.cls} {self.cx:.6f} {self.cy:.6f} {self.w:.6f} {self.h:.6f}"


def parse_label_line(text: str, where: str, n_classes: int | None) -> Box:
    """One YOLO label line (box or polygon) as a Box; DatasetError starting with `where` (file:line)."""
    parts = text.split()
    try:
        cls = int(parts[0])
        values = [float(v) for v in parts[1:]]
    except (ValueError, IndexError):
        raise DatasetError(f"{where}: expected 'class x y ...' numbers, got {text.strip()[:60]!r}") from None
    if cls < 0 or (n_classes is not None and cls >= n_classes):
        raise DatasetError(f"{where}: class {cls} outside 0..{(n_classes or 1) - 1} of the data set's names")
    if len(values) != 4 and (len(values) < 6 or len(values) % 2):
        raise DatasetError(f"{where}: {len(values)} coordinates; a box has 4, a polygon an even number >= 6")
    if any(not -0.01 <= v <= 1.01 for v in values):
        raise DatasetError(f"{where}: coordinates must be normalised to 0-1, got {text.strip()[:60]!r}")
    if len(values) == 4:
        cx, cy, w, h = values
    else:
        xs, ys = values[0::2], values[1::2]
        x1, x2, y1, y2 = max(min(xs), 0.0), min(max(xs), 1.0), max(min(ys), 0.0), min(max(ys), 1.0)
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        raise DatasetError(f"{where}: empty box (width or height 0)")
    return Box(cls, cx, cy, w, h)


def read_labels(path: Path, n_classes: int | None) -> list[Box]:
    """The boxes of one label file (a missing file is an image without objects)."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [parse_label_line(t, f"{path}:{i}", n_classes) for i, t in enumerate(lines, 1) if t.strip()]


def label_path(image: Path) -> Path:
    """The YOLO convention: the last ``images`` folder of the path replaced by ``labels``, suffix ``.txt``."""
    parts = list(image.parts)
    i = len(parts) - 1 - parts[::-1].index("images")
    return Path(*parts[:i], "labels", *parts[i + 1 :]).with_suffix(".txt")


def class_names(dataset_dir: Path) -> list[str] | None:
    """Class names from the data set's data.yaml (list or {index: name}), None without one."""
    path = dataset_dir / "data.yaml"
    if not path.is_file():
        return None
    doc = read_yaml(path)
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not names:
        raise DatasetError(f"{path}: 'names' must be a non-empty list of class names")
    return [str(n) for n in names]


@dataclass(frozen=True)
class Prepared:
    """What `prepare` wrote: the data.yaml, the split file used, class names and image/object counts per split."""

    data_yaml: Path
    split_file: Path
    names: list[str]
    images: dict[str, int]
    objects: dict[str, int]
    duplicates: int


def prepare(dataset_dir: Path, out_dir: Path, split_file: Path | None = None, one_class: str | None = None) -> Prepared:
    """Check, re-split and write `dataset_dir` as a YOLO detection set under `out_dir`.

    `split_file`: an existing split file is read (a photo missing from it is an error), a missing one is
    written. `one_class`: merge every class into one of this name.
    """
    if not dataset_dir.is_dir():
        raise DatasetError(f"{dataset_dir}: data set directory not found")
    images = dataset_images(dataset_dir)
    if not images:
        raise DatasetError(f"{dataset_dir}: no images in any images/ folder (expected YOLO layout)")
    names = class_names(dataset_dir)
    labels = {img: read_labels(label_path(img), len(names) if names else None) for img in images}
    if names is None:
        names = [f"class{i}" for i in range(max((b.cls for bs in labels.values() for b in bs), default=0) + 1)]
    if one_class:
        names = [one_class]
        labels = {img: [Box(0, b.cx, b.cy, b.w, b.h) for b in bs] for img, bs in labels.items()}

    out_dir.mkdir(parents=True, exist_ok=True)
    split_file = split_file or out_dir / "split.json"
    if split_file.is_file():
        assignment = load_split(split_file)
        unknown = sorted({source_photo(p.name) for p in images} - assignment.keys())
        if unknown:
            raise DatasetError(f"{split_file}: source photo {unknown[0]!r} of {dataset_dir} is in no split")
    else:
        assignment = write_split(dataset_dir, split_file)

    seen: set[str] = set()
    counts = {s: 0 for s in SPLITS}
    objects = {s: 0 for s in SPLITS}
    duplicates = 0
    for s in SPLITS:
        for sub in ("images", "labels"):
            (out_dir / s / sub).mkdir(parents=True, exist_ok=True)
    for img in images:
        digest = hashlib.md5(img.read_bytes()).hexdigest()
        if digest in seen:
            duplicates += 1
            continue
        seen.add(digest)
        s: Split = assignment[source_photo(img.name)]
        link = out_dir / s / "images" / img.name
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(img.resolve(), link)
        (out_dir / s / "labels" / f"{img.stem}.txt").write_text("".join(b.line() + "\n" for b in labels[img]))
        counts[s] += 1
        objects[s] += len(labels[img])
    data_yaml = write_data_yaml(out_dir, names)
    return Prepared(data_yaml, split_file, names, counts, objects, duplicates)


def write_data_yaml(out_dir: Path, names: list[str]) -> Path:
    """Ultralytics' data.yaml with absolute paths (no `download:`: nothing is fetched)."""
    doc = {
        "path": str(out_dir.resolve()),
        "train": "train/images",
        "val": "val/images",
        "test": "test/images",
        "names": dict(enumerate(names)),
    }
    path = out_dir / "data.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    return path
