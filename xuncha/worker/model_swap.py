"""A live worker picks up the model an admin promoted (模型管理) without a restart.

Every refresh tick the worker asks the review service `GET /api/worker/models` for the model in use per
model name, the names of its config's `detectors.models`; a detector whose file differs (by checksum)
is replaced by the promoted one, built like the others. A promoted model that cannot be loaded, or
whose file is not the one promoted, leaves the running detector in place (and says why in the log): a
bad promotion never stops detection.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from xuncha.clues.contracts import ModelChecksum
from xuncha.detector.onnx import ModelError, OnnxDetector
from xuncha.yamlfile import ConfigError

log = logging.getLogger("xuncha.worker")


def checksums(detectors: Sequence[OnnxDetector]) -> list[ModelChecksum]:
    """The models as clue events name them."""
    return [ModelChecksum(name=d.name, checksum=d.checksum) for d in detectors]


def fetch_promoted(review_url: str, token: str) -> dict[str, dict[str, Any]]:
    request = urllib.request.Request(
        f"{review_url.rstrip('/')}/api/worker/models", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        return dict(json.load(r)["models"])


def refresh_promoted(
    review_url: str,
    token: str,
    detectors: Sequence[OnnxDetector],
    names: Sequence[str],
    load: Callable[[str], OnnxDetector],
) -> list[OnnxDetector]:
    """`swap_promoted` with what the review service promotes now; the running detectors when it is away."""
    try:
        promoted = fetch_promoted(review_url, token)
    except (OSError, ValueError, KeyError) as e:
        log.warning("promoted models not fetched from the review service: %s", e)
        return list(detectors)
    return swap_promoted(detectors, names, promoted, load)


def swap_promoted(
    detectors: Sequence[OnnxDetector],
    names: Sequence[str],
    promoted: dict[str, dict[str, Any]],
    load: Callable[[str], OnnxDetector],
) -> list[OnnxDetector]:
    """The detectors with each promoted one in place of the one running under its name (`names[i]`)."""
    out = list(detectors)
    for i, (det, name) in enumerate(zip(detectors, names, strict=True)):
        p = promoted.get(name)
        if p is None or (p.get("checksum") is not None and p["checksum"] == det.checksum):
            continue
        try:
            new = load(str(p["ref"]))
        except (ModelError, ConfigError, OSError, KeyError) as e:
            log.warning("model %s: promoted %s not loaded, keeping %s: %s", name, p.get("ref"), det.path, e)
            continue
        if p.get("checksum") is not None and new.checksum != p["checksum"]:
            log.warning(
                "model %s: %s is not the promoted file (checksum %s), keeping %s",
                name,
                p["ref"],
                new.checksum,
                det.path,
            )
            continue
        if new.checksum != det.checksum:
            log.info("model %s: now %s %s (%s by %s)", name, new.path, new.checksum, p.get("action"), p.get("by"))
            out[i] = new
    return out
