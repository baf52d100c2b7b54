"""The text stage's edges: RapidOCR (PP-OCR det + Chinese rec, ONNX, models inside the wheel) behind
one call, and the zone set's reference picture.

Installed with the `ocr` extra (`pip install -e '.[ocr]'`). The model files are named explicitly, so
RapidOCR never reaches for its download path; a missing file is our error, not a download.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import cv2
import numpy as np

from xuncha.text.stage import OcrLine
from xuncha.view.guard import load_reference
from xuncha.zones.model import ZoneSet

log = logging.getLogger("xuncha.text")

_MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}


def ocr_available() -> bool:
    """Whether the `ocr` extra (rapidocr) is installed."""
    return importlib.util.find_spec("rapidocr") is not None


class RapidOcr:
    """One RapidOCR engine. Not thread-safe (RapidOCR keeps per-call switches on the instance): one per thread.

    Every call passes all three stage switches, because RapidOCR keeps the previous call's otherwise.
    The textline-orientation classifier is off: posters and banners are upright.
    """

    def __init__(self, threads: int | None = None, min_side: int = 480) -> None:
        if not ocr_available():
            raise RuntimeError("OCR is not installed: pip install 'xuncha[ocr]'")
        import rapidocr

        models = Path(rapidocr.__file__).parent / "models"
        params: dict[str, object] = {
            "Global.log_level": "error",  # its one warning, "text detection result is empty", reads as a failure
            "EngineConfig.onnxruntime.intra_op_num_threads": threads or -1,
            "Det.limit_side_len": min_side,  # with limit_type "min": smaller crops are scaled up to this
        }
        for stage, name in _MODEL_FILES.items():
            path = models / name
            if not path.is_file():
                raise RuntimeError(f"OCR model file missing: {path} (reinstall rapidocr 3.10)")
            params[f"{stage}.model_path"] = str(path)
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        self._engine = rapidocr.RapidOCR(params=params)
        self._min_side = min_side

    def __call__(self, image: np.ndarray, min_side: int | None = None) -> list[OcrLine]:
        """Text lines of a BGR image, boxes in its pixels; an empty list when there is none. `min_side`:
        scale the shorter side up to this for text detection instead of the engine's (a part of a zone read
        at the whole zone's scale)."""
        # rapidocr 3.10's detector builds its resize from this attribute on every call.
        self._engine._load_det_model().limit_side_len = min_side or self._min_side
        r = self._engine(image, use_det=True, use_cls=False, use_rec=True)
        if r.boxes is None or r.txts is None or r.scores is None:
            return []
        out = []
        for quad, text, score in zip(np.asarray(r.boxes, dtype=float), r.txts, r.scores, strict=True):
            if text.strip():
                (x1, y1), (x2, y2) = quad.min(axis=0), quad.max(axis=0)
                out.append(OcrLine(text, float(score), (float(x1), float(y1), float(x2), float(y2))))
        return out


def text_reference(zone_set: ZoneSet, frame_size: tuple[int, int]) -> np.ndarray | None:
    """The picture the zones were drawn on, at the frame size; None (the first sample is the reference)
    when the zone set names none or it cannot be read."""
    path = zone_set.reference_image
    if not path or "://" in path:
        return None
    try:
        image = load_reference(path)
    except ValueError as e:
        log.warning("%s: the first sample is the text reference", e)
        return None
    return cv2.resize(image, frame_size, interpolation=cv2.INTER_AREA)
