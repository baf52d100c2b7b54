"""One camera's chain of stages, the same in the worker and in the benchmarks.

A sample goes stationary model → view guard → zone matching (with the text stage and the second look
of `look.py`) → confirmation:
`sense` turns a frame and its detector boxes into the sample's zone candidates (None while the view
guard pauses the camera), `confirm` turns them into clue transitions. The stages with memory live
here, per camera; detection (batched across cameras) and everything that does I/O with the results
(evidence pictures, events, re-checks) stay with the caller. Keeping one chain is what lets a
benchmark measure exactly what the worker does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from xuncha.categorize import Candidate, is_generic
from xuncha.config.worker import CameraConfig, FixtureSetting
from xuncha.confirm import Confirmer, ConfirmParams, Fixture, Transition
from xuncha.detector.onnx import OnnxDetector
from xuncha.detector.stationary import LABEL as STATIONARY_LABEL
from xuncha.detector.stationary import StationaryObjectModel, StationaryParams
from xuncha.pipeline.look import LookParams, placed, regions
from xuncha.taxonomy import Taxonomy
from xuncha.text.ocr import text_reference
from xuncha.text.stage import Ocr, TextParams, TextStage
from xuncha.types import Detection, Frame, same_place
from xuncha.view.guard import ViewGuard
from xuncha.zones.gating import Adjustment, gated_zones
from xuncha.zones.match import ZoneMatcher
from xuncha.zones.model import ZoneSet


def fixtures_px(fixtures: list[FixtureSetting], size: tuple[int, int]) -> list[Fixture]:
    w, h = size
    return [Fixture(f.zone, f.category, (f.box[0] * w, f.box[1] * h, f.box[2] * w, f.box[3] * h)) for f in fixtures]


@dataclass(frozen=True)
class Sensed:
    """A sample past the zones: every box it had (detectors, stationary model, text) and its candidates."""

    when: datetime
    detections: list[Detection]
    candidates: list[Candidate]


@dataclass
class InForce:
    """The zone set the matcher and the confirmer's dwell run with: the camera's, tightened by adaptive
    gating (one object shared by both, so a change reaches pending tracks too)."""

    zones: ZoneSet
    taxonomy: Taxonomy
    gating: list[Adjustment] = field(default_factory=list)

    def dwell(self, zone_id: str, category: str) -> float:
        return self.zones.get(zone_id).dwell(category, self.taxonomy)


@dataclass
class CameraPipeline:
    """The stages with memory of one camera. The matcher and text stage are built at the first frame
    (and again when the stream changes size): zones are normalised, pixels need the frame size."""

    cfg: CameraConfig
    in_force: InForce
    confirmer: Confirmer
    tz: tzinfo
    ocr: Ocr
    text_params: TextParams
    stationary: StationaryObjectModel | None = None
    view: ViewGuard | None = None  # with a reference picture: pauses the zones when the view moved
    matcher: ZoneMatcher | None = None
    text: TextStage | None = None  # zones with a text rule
    frame_size: tuple[int, int] = (0, 0)
    fixtures: list[FixtureSetting] = field(default_factory=list)  # from the config and the review service
    look_params: LookParams = field(default_factory=LookParams)
    looks: int = 0  # crops the second look has run, for the benchmarks' cost figures

    @classmethod
    def build(
        cls,
        cam: CameraConfig,
        taxonomy: Taxonomy,
        confirm: ConfirmParams,
        stationary: StationaryParams | None,
        text: TextParams,
        ocr: Ocr,
        tz: tzinfo,
        view: ViewGuard | None = None,
    ) -> CameraPipeline:
        """`stationary` None: no stationary model; it runs only where a zone uses its label anyway."""
        in_force = InForce(cam.zones, taxonomy)
        confirmer = Confirmer(cam.id, in_force.dwell, confirm)
        model = (
            StationaryObjectModel(stationary)
            if stationary is not None and STATIONARY_LABEL in cam.zones.labels_used()
            else None
        )
        return cls(cam, in_force, confirmer, tz, ocr, text, model, view, fixtures=list(cam.fixtures))

    def set_fixtures(self, fixtures: list[FixtureSetting]) -> None:
        self.fixtures = fixtures
        if self.frame_size != (0, 0):
            self.confirmer.set_fixtures(fixtures_px(fixtures, self.frame_size))

    def set_gating(self, adjustments: list[Adjustment]) -> bool:
        """Run with the review service's gating adjustments from the next sample on (open and pending
        tracks keep going, under the new dwell); whether they changed."""
        if adjustments == self.in_force.gating:
            return False
        self.in_force.gating = adjustments
        self.in_force.zones = gated_zones(self.cfg.zones, adjustments, self.in_force.taxonomy)
        if self.matcher is not None:
            self.matcher = ZoneMatcher(self.in_force.zones, self.frame_size, self.confirmer.params.same_place)
        return True

    def sense(
        self,
        frame: Frame,
        detections: list[Detection],
        seen: Callable[[Frame], None] | None = None,
        look: Sequence[OnnxDetector] = (),
    ) -> Sensed | None:
        """The sample's zone candidates; None while the view guard pauses the camera (zones paused, open
        clues wait). `seen` is called with each frame the guard lets through, before the zones. `look`:
        the detectors that look again at crops around the zones' stationary objects (`look.py`)."""
        dets = list(detections)
        if self.stationary is not None:  # fed every frame, paused or not: its background must keep up
            dets += self.stationary.update(frame.image, frame.ts)
        if self.view is not None and not self.view.allows(frame):
            return None
        if seen is not None:
            seen(frame)
        if self.matcher is None or self.frame_size != frame.size:
            self.frame_size = frame.size
            self.matcher = ZoneMatcher(self.in_force.zones, frame.size, self.confirmer.params.same_place)
            reference = text_reference(self.cfg.zones, frame.size)
            self.text = TextStage.for_zones(self.cfg.zones, frame.size, self.ocr, self.text_params, reference)
            self.confirmer.set_fixtures(fixtures_px(self.fixtures, frame.size))
        if self.text is not None:
            dets += self.text.update(frame.image, frame.ts)
        when = datetime.fromtimestamp(frame.ts, self.tz)
        candidates = self.matcher.match(dets, when)
        looked = self._second_look(frame, candidates, look)
        if looked:
            dets += looked
            candidates = self.matcher.match(dets, when)
        return Sensed(when, dets, candidates)

    def _second_look(self, frame: Frame, candidates: list[Candidate], look: Sequence[OnnxDetector]) -> list[Detection]:
        """What each look model finds on crops around the zones' stationary objects that no named object
        won, and around the places of tracks of its categories (or of stationary objects) where it has no
        box this sample, in zones with a rule for one of its labels."""
        out: list[Detection] = []
        for det in look:
            labels = frozenset(det.labels)
            # per zone, the categories of its rules for the model's labels or for stationary objects
            wanted = {
                z.id: {
                    r.category for r in z.all_rules if not labels.isdisjoint(r.labels) or STATIONARY_LABEL in r.labels
                }
                for z in self.in_force.zones.zones
                if any(not labels.isdisjoint(r.labels) for r in z.all_rules)
            }
            named = [c.detection.box for c in candidates if c.detection.label in labels]
            places = [
                *(c.detection.box for c in candidates if c.zone_id in wanted and is_generic(c.detection.label)),
                *(box for zone_id, cat, box in self.confirmer.places() if cat in wanted.get(zone_id, ())),
            ]
            unnamed = [b for b in places if not any(same_place(b, n) for n in named)]
            chosen = regions(unnamed, frame.size, self.look_params)
            if not chosen:
                continue
            self.looks += len(chosen)
            crops = [frame.image[y1:y2, x1:x2] for _, (x1, y1, x2, y2) in chosen]
            for (place, region), found in zip(chosen, det.detect(crops), strict=True):
                out += placed(found, place, region)
        return out

    def confirm(self, frame: Frame, sensed: Sensed) -> list[Transition]:
        return self.confirmer.step(frame.ts, sensed.candidates, ref=frame)
