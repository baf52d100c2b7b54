"""Which detection labels a worker can produce, and the rules that name a label nothing produces.

The labels are the loaded models' classes plus what the worker's stages add (the stationary-object
model's `static_object`, the text stage's `text`, `phone_number`, `banner`). A stage that adds
labels puts a function of the worker config in STAGE_LABELS. A rule whose label nothing produces
(`unicorn`, a typo for a COCO class) would never fire: the worker refuses to start with it.

>>> from types import SimpleNamespace as NS
>>> cfg = NS(detectors=NS(stationary=True), cameras=[NS(id="gate-3", zones=NS(zones=[NS(id="box",
...     named_rules=[("rules[0]", NS(labels=["static_object", "unicorn"], exclude_labels=["person"]))])]))])
>>> unknown_label_problems(cfg, producible_labels(cfg, ["person", "car"]))
["camera gate-3, zone box, rules[0].labels: 'unicorn' is produced by no configured model"]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from xuncha.detector.stationary import LABEL as STATIONARY_LABEL
from xuncha.text.ocr import ocr_available
from xuncha.textpatterns import TEXT_LABELS
from xuncha.yamlfile import ConfigError

if TYPE_CHECKING:
    from xuncha.config.worker import WorkerConfig


def stationary_labels(cfg: WorkerConfig) -> set[str]:
    return {STATIONARY_LABEL} if cfg.detectors.stationary else set()


def text_labels(_cfg: WorkerConfig) -> set[str]:
    return set(TEXT_LABELS) if ocr_available() else set()


# Labels added by the worker's stages, from its config (a WorkerConfig).
STAGE_LABELS: list[Callable[[WorkerConfig], set[str]]] = [stationary_labels, text_labels]


def producible_labels(cfg: WorkerConfig, model_labels: Iterable[str]) -> set[str]:
    """Every label the worker can produce: its models' classes and its stages' labels."""
    out = set(model_labels)
    for stage in STAGE_LABELS:
        out |= stage(cfg)
    return out


def unknown_label_problems(cfg: WorkerConfig, labels: set[str]) -> list[str]:
    """One line per rule label (and exclude label) that nothing in `labels` produces."""
    return [
        f"camera {cam.id}, zone {z.id}, {name}.{field}: {label!r} is produced by no configured model"
        for cam in cfg.cameras
        for z in cam.zones.zones
        for name, r in z.named_rules
        for field in ("labels", "exclude_labels")
        for label in getattr(r, field)
        if label not in labels
    ]


def check_rule_labels(cfg: WorkerConfig, labels: set[str], source: str) -> None:
    """ConfigError naming the file, camera, zone and rule of every label nothing produces."""
    problems = unknown_label_problems(cfg, labels)
    if problems:
        known = ", ".join(sorted(labels)) or "(none)"
        raise ConfigError(f"{source}: " + "; ".join(problems) + f" (the models and stages produce: {known})")
