"""A review export (`xuncha review export-dataset`) mixed into a training run, its split kept.

The export is split by camera and day already (near-duplicate frames of one camera never straddle
train and val); re-splitting it by file name, as `prepare` does the photos, would undo that. Its
images join the run's train and val folders as they are (rejected clues as background images), their
classes mapped by name to the run's (all to the one class with --one-class). The card records which
export and how many images per camera.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from xuncha.train.prepare import Box, DatasetError, read_labels
from xuncha.yamlfile import read_yaml

PREFIX = "review_"  # file names in the run's folders: never clash with the photos or composites


def class_map(export_names: list[str], run_names: list[str], one_class: bool) -> dict[int, int]:
    """Export class index -> run class index; every export class must be one of the run's (or merged).

    >>> class_map(["0102", "0507"], ["garbage"], one_class=True)
    {0: 0, 1: 0}
    >>> class_map(["b", "a"], ["a", "b", "c"], one_class=False)
    {0: 1, 1: 0}
    """
    if one_class:
        return dict.fromkeys(range(len(export_names)), 0)
    missing = [n for n in export_names if n not in run_names]
    if missing:
        raise DatasetError(
            f"review export class {missing[0]!r} is not a class of the run ({', '.join(run_names)}); "
            "train with --one-class or on a data set with these classes"
        )
    return {i: run_names.index(n) for i, n in enumerate(export_names)}


def add_export(export_dir: Path, data_dir: Path, run_names: list[str], one_class: bool) -> dict:
    """Link the export's images into `data_dir`/{train,val}; returns what the card records."""
    manifest = export_dir / "manifest.jsonl"
    data_yaml = export_dir / "data.yaml"
    if not manifest.is_file() or not data_yaml.is_file():
        raise DatasetError(f"{export_dir}: not a review export (no manifest.jsonl / data.yaml)")
    names = read_yaml(data_yaml).get("names") or {}
    export_names = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
    mapping = class_map(export_names, run_names, one_class)
    images: Counter[str] = Counter()
    cameras: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    for n, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        rec = json.loads(line)
        if rec.get("skipped") or not rec.get("image"):
            continue
        split, image = rec["split"], export_dir / rec["image"]
        if split not in ("train", "val") or not image.is_file():
            raise DatasetError(f"{manifest}:{n}: image {rec['image']!r} of split {split!r} not found")
        boxes = read_labels(export_dir / "labels" / split / f"{image.stem}.txt", len(export_names))
        link = data_dir / split / "images" / f"{PREFIX}{image.name}"
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(image.resolve(), link)
        rows = [Box(mapping[b.cls], b.cx, b.cy, b.w, b.h).line() + "\n" for b in boxes]
        (data_dir / split / "labels" / f"{PREFIX}{image.stem}.txt").write_text("".join(rows))
        images[split] += 1
        cameras[rec["camera_id"]] += 1
        decisions[rec["decision"]] += 1
    if not images:
        raise DatasetError(f"{manifest}: no exported image to train on")
    return {
        "export": str(export_dir),
        "images": dict(images),
        "decisions": dict(decisions),
        "per_camera": dict(sorted(cameras.items())),
    }
