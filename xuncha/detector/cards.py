"""Model cards: one YAML file per model saying where it came from, what it detects and its checksum.

Cards live in ``xuncha/models/`` (packaged) or in directories given by the caller; a card's ``file``
is found as an absolute path, beside the card, or in the model directories (``XUNCHA_MODEL_DIRS``,
then ``../shared/data/models`` beside the checkout).

>>> load_detector("yolox_nano_coco").labels[:3]  # doctest: +SKIP
['person', 'bicycle', 'car']
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import xuncha
from xuncha.detector.modelcard import ModelCard, load_card
from xuncha.detector.onnx import ModelError, OnnxDetector, file_checksum
from xuncha.yamlfile import ConfigError

PACKAGE_CARDS = Path(__file__).resolve().parents[1] / "models"
CARD_SUFFIXES = (".yaml", ".yml")


def model_dirs() -> list[Path]:
    """Directories searched for card files: $XUNCHA_MODEL_DIRS, then ../shared/data/models of the checkout."""
    dirs = [Path(d) for d in os.environ.get("XUNCHA_MODEL_DIRS", "").split(os.pathsep) if d]
    dirs.append(Path(xuncha.__file__).resolve().parents[1].parent / "shared" / "data" / "models")
    return dirs


def resolve_file(card: ModelCard) -> Path:
    """The card's model file on this machine; ModelError listing where it looked when absent."""
    file = Path(card.file).expanduser()
    if file.is_absolute():
        candidates = [file]
    else:
        candidates = [card.card_path.parent / file] if card.card_path else []
        candidates += [d / file for d in model_dirs()]
    for path in candidates:
        if path.is_file():
            return path
    where = ", ".join(str(p.parent) for p in candidates)
    raise ModelError(f"model card {card.name!r} ({card.card_path}): file {card.file!r} not found in {where}")


def _card_files(dirs: Iterable[Path]) -> list[Path]:
    return [p for d in dirs for p in sorted(Path(d).iterdir()) if p.suffix in CARD_SUFFIXES]


def list_cards(extra_dirs: Sequence[str | Path] = ()) -> list[ModelCard]:
    """Packaged cards plus those in `extra_dirs`; a later card with the same name replaces an earlier one."""
    for d in extra_dirs:
        if not Path(d).is_dir():
            raise ConfigError(f"{d}: model card directory not found")
    cards: dict[str, ModelCard] = {}
    for path in _card_files([PACKAGE_CARDS, *map(Path, extra_dirs)]):
        card = load_card(path)
        cards[card.name] = card
    return list(cards.values())


def find_card(name: str, card_dirs: Sequence[str | Path] = ()) -> ModelCard:
    cards = {c.name: c for c in list_cards(card_dirs)}
    if name not in cards:
        raise ModelError(f"no model card named {name!r}; known: {', '.join(sorted(cards)) or '(none)'}")
    return cards[name]


def load_detector(
    ref: str | Path,
    *,
    threads: int | None = None,
    card_dirs: Sequence[str | Path] = (),
    conf: float = 0.25,
) -> OnnxDetector:
    """A detector from a card name, a card YAML path, or an .onnx path.

    An .onnx path uses the card beside it with the same stem, else a known card with the same
    checksum, else none (then class names must be in the ONNX metadata).
    """
    path = Path(ref)
    if path.suffix in CARD_SUFFIXES:
        card = load_card(path)
        return OnnxDetector(resolve_file(card), card, threads=threads, conf=conf)
    if path.suffix == ".onnx":
        if not path.is_file():
            raise ModelError(f"{path}: model file not found")
        card = None
        beside = [path.with_suffix(s) for s in CARD_SUFFIXES if path.with_suffix(s).is_file()]
        if beside:
            card = load_card(beside[0])
        else:
            checksum = file_checksum(path)
            card = next((c for c in list_cards(card_dirs) if c.checksum == checksum), None)
        return OnnxDetector(path, card, threads=threads, conf=conf)
    card = find_card(str(ref), card_dirs)
    return OnnxDetector(resolve_file(card), card, threads=threads, conf=conf)
