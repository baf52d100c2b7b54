"""The split of a photo data set into train / val / test by source photo, read by every tool.

Roboflow exports hold several augmented copies of each photo (``<photo>_jpg.rf.<hash>.jpg``), and its
own splits put copies of one photo on both sides. Here a photo and all its copies fall into one split,
chosen by a hash of the photo's name, and the assignment is stored in a JSON file beside this module so
that training, the benchmarks and the scenario composer read the same one.

>>> source_photo("20231005_163458_jpg.rf.1a2dec8e364556091e373bc2b3690b9f.jpg")
'20231005_163458'
>>> sorted(assign("abcdefghij", (0.6, 0.2, 0.2)).values())
['test', 'test', 'train', 'train', 'train', 'train', 'train', 'train', 'val', 'val']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from xuncha.yamlfile import ConfigError

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
FRACTIONS = (0.7, 0.15, 0.15)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# The street_trashbags split, committed: changing it changes every number measured on the data set.
STREET_TRASHBAGS_SPLIT = Path(__file__).with_name("street_trashbags.split.json")


def source_photo(name: str) -> str:
    """The source photo of an image file name: the part before ``_jpg.rf.`` (Roboflow copies), else the stem."""
    stem = Path(name).name
    for marker in ("_jpg.rf.", "_jpeg.rf.", "_png.rf."):
        if marker in stem:
            return stem.split(marker)[0]
    return Path(stem).stem


def assign(sources: Iterable[str], fractions: Sequence[float] = FRACTIONS) -> dict[str, Split]:
    """Each source photo's split: sources ordered by SHA-1 of their name, cut by `fractions` (train, val, test)."""
    ordered = sorted(set(sources), key=lambda s: hashlib.sha1(s.encode()).hexdigest())
    n = len(ordered)
    n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
    out: dict[str, Split] = {}
    for i, s in enumerate(ordered):
        out[s] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


def dataset_images(dataset_dir: Path) -> list[Path]:
    """Every image of a data set directory under a folder named ``images`` (``train/images``, ``images/val``...)."""
    return sorted(
        p
        for p in dataset_dir.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and "images" in p.relative_to(dataset_dir).parts[:-1]
    )


def write_split(dataset_dir: Path, path: Path, fractions: Sequence[float] = FRACTIONS) -> dict[str, Split]:
    """Split the data set's source photos and write the split file (JSON: split -> sorted source photos)."""
    images = dataset_images(dataset_dir)
    if not images:
        raise ConfigError(f"{dataset_dir}: no images in any images/ folder")
    split = assign((source_photo(p.name) for p in images), fractions)
    doc = {
        "dataset": dataset_dir.name,
        "rule": "split by source photo (file name before _jpg.rf.), ordered by SHA-1 of the name",
        "fractions": list(fractions),
        **{s: sorted(k for k, v in split.items() if v == s) for s in SPLITS},
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return split


def load_split(path: Path = STREET_TRASHBAGS_SPLIT) -> dict[str, Split]:
    """Source photo -> split, from a split file; ConfigError naming the file when it is unreadable."""
    try:
        doc = json.loads(path.read_text())
        out: dict[str, Split] = {}
        for s in SPLITS:
            for src in doc[s]:
                if src in out:
                    raise ConfigError(f"{path}: source photo {src!r} is in both {out[src]} and {s}")
                out[src] = s
    except FileNotFoundError:
        raise ConfigError(f"{path}: split file not found") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a split file ({type(e).__name__}: {e})") from None
    return out


def split_photos(dataset_dir: Path, split: Split, path: Path = STREET_TRASHBAGS_SPLIT) -> list[Path]:
    """The data set's images (all augmented copies) whose source photo is in `split`.

    The scenario composer draws evaluation cut-outs from ``split_photos(dir, "test")`` and training from
    ``"train"``. A photo missing from the split file is an error: the split file is stale.
    """
    assignment = load_split(path)
    images = dataset_images(dataset_dir)
    unknown = sorted({source_photo(p.name) for p in images} - assignment.keys())
    if unknown:
        raise ConfigError(
            f"{path}: {len(unknown)} source photos of {dataset_dir} are in no split (first: {unknown[0]!r}); "
            "the split file does not belong to this data set"
        )
    return [p for p in images if assignment[source_photo(p.name)] == split]
