"""What the worker tells operators in its log: new text a zone's read found, and adaptive gating changes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from xuncha.config.worker import CameraConfig
from xuncha.taxonomy import Taxonomy
from xuncha.text.stage import TextStage
from xuncha.zones.gating import Adjustment

log = logging.getLogger("xuncha.worker")


def log_text_found(cam: CameraConfig, text: TextStage, taxonomy: Taxonomy, when: datetime) -> None:
    """Each new block with its phone numbers and the dwell its clue still waits for: with a 300 s dwell a
    poster is read long before its clue opens, and a stage that reads silently looks dead."""
    for zone_id, block in text.found:
        zone = cam.zones.get(zone_id)
        dwell = max((r.dwell(taxonomy) for r in zone.all_rules if r.is_text_rule), default=0.0)
        log.info(
            "camera %s zone %s: new text at %s %r (phone numbers %s); a clue opens if it stays %.0f s",
            cam.id,
            zone_id,
            when.strftime("%H:%M:%S"),
            block.text,
            ",".join(block.phones) or "none",
            dwell,
        )


def log_gating(camera_id: str, gating: Sequence[Adjustment]) -> None:
    """Each zone's adaptive gating level after a change (zones that run tighter after a low 立案率)."""
    for a in gating:
        level = f"adaptive gating level {a.level}: {a.note}"
        log.info("camera %s zone %s category %s: %s", camera_id, a.zone, a.category, level)
    if not gating:
        log.info("camera %s: adaptive gating off, every zone at its rules' values", camera_id)
