"""The model card: one YAML file per model saying where it came from, what it detects and its checksum.

Kept apart from the detector (`onnx.py`, which checks a file against its card) and from finding cards
(`cards.py`, which builds detectors), so neither imports the other in a circle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xuncha.yamlfile import load_yaml

Family = Literal["ultralytics", "yolox"]


class ModelError(ValueError):
    """A model file is missing, not ONNX, not understood, or contradicts its card; names the file."""


class ModelCard(BaseModel):
    """What a model file is: provenance, licence, classes, input size and checksum."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Unique model name, used as Detection.model")
    file: str = Field(description="ONNX file: absolute, relative to the card, or a name in the model dirs")
    family: Family = Field(description="Export family: ultralytics (YOLOv5u/v8/11 detect) or yolox")
    source: str = Field(description="Where the weights come from (project, release, export command)")
    licence: str = Field(description="Licence of the weights")
    classes: list[str] | None = Field(None, min_length=1, description="Class names in output order")
    classes_from: Literal["metadata"] | None = Field(
        None, description="Take class names from the ONNX metadata (Ultralytics exports) instead of `classes`"
    )
    input_size: tuple[int, int] = Field(description="Network input as [width, height] pixels")
    checksum: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="sha256:<hex> of the file")
    md5: str | None = Field(None, pattern=r"^[0-9a-f]{8,32}$", description="md5 or its prefix, for reference")
    notes: str = Field("", description="Known strengths and weaknesses")
    precision: dict[str, float] = Field(
        default_factory=dict, description="Measured precision (立案率) per label on reviewed clues"
    )
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Accuracy measured on held-out data when the model was made"
    )
    second_look: bool = Field(
        False,
        description="Also run on crops around stationary objects it did not name (pipeline/look.py): for a "
        "model trained on CCTV-size objects that a wide frame shrinks below its grid",
    )
    command: str | None = Field(None, description="The exact command that reproduces the model file")
    card_path: Path | None = Field(None, exclude=True, description="Where this card was read from")

    @model_validator(mode="after")
    def _one_class_source(self) -> ModelCard:
        if (self.classes is None) == (self.classes_from is None):
            raise ValueError("give exactly one of `classes` (a list) or `classes_from: metadata`")
        return self


def load_card(path: str | Path) -> ModelCard:
    card = load_yaml(ModelCard, path)
    return card.model_copy(update={"card_path": Path(path).resolve()})
