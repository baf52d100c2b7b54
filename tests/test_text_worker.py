"""The worker's text stage end to end on real footage (issue 22): the shared indoor clip with a poster
pasted on its wall at 30 s, people walking and standing below it, and a poster there from the start."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import pytest
from conftest import shared_file

from xuncha.config.worker import WorkerConfig, resolve_config

SUDDEN = ["办证刻章", "13912345678"]  # pasted at 30 s, characters 17 px high
FROM_START = ["疏通下水道", "诚信快速保密", "15807301234"]  # on the wall in the first sample: reference text


def compose(video: Path) -> None:
    """The 139 s clip at one frame per second, 768x432, posters warped onto the white wall."""
    from xuncha.bench.posters import paste, poster_quad, render_poster

    sudden, old = render_poster(SUDDEN, 17), render_poster(FROM_START, 14)
    cap = cv2.VideoCapture(str(shared_file("footage/indoor_people_standing.mp4")))
    step = round(cap.get(cv2.CAP_PROP_FPS))
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 1, (768, 432))
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            frame, _ = paste(frame, old, poster_quad(500, 50, old.shape[1::-1], skew=0.05))
            if i // step >= 30:
                frame, _ = paste(frame, sudden, poster_quad(150, 40, sudden.shape[1::-1]))
            out.write(frame)
        i += 1
    cap.release()
    out.release()


def test_worker_opens_one_clue_for_a_poster_pasted_suddenly_and_none_for_text_there_from_the_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("rapidocr", reason="the ocr extra is not installed")
    from xuncha.worker import Worker

    video = tmp_path / "wall.mp4"
    compose(video)
    zone = {"id": "wall", "name": "墙面", "polygon": [[0, 0], [1, 0], [1, 0.55], [0, 0.55]]}
    zone |= {"scene": "small_ads", "dwell_s": 60}
    cam = {"id": "cam-wall", "source": str(video), "sample_interval_s": 2.0, "zones": [zone]}
    config = WorkerConfig.model_validate(
        {"data_dir": str(tmp_path), "detectors": {"models": ["yolox_nano_coco"], "stationary": True}, "cameras": [cam]}
    )
    worker = Worker(*resolve_config(config, tmp_path, "test"))
    with caplog.at_level(logging.INFO, logger="xuncha.worker"):
        summary = worker.run(once=True)
    opened = [e for e in summary.events if e.kind == "opened"]
    assert [(e.category.code, e.label, e.phone_numbers) for e in opened] == [("0201", "phone_number", ["13912345678"])]
    assert "办证刻章" in (opened[0].text or "")
    # The read is in the log when it happens, with the dwell the clue still waits for (it was silent).
    said = [r.getMessage() for r in caplog.records if "new text" in r.getMessage()]
    assert len(said) == 1 and "13912345678" in said[0] and "stays 60 s" in said[0]
