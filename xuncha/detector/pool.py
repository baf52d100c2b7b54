"""Running one model's batches on several threads at once, so a worker keeps every core busy.

onnxruntime releases the GIL inside `InferenceSession.run` and a session may be run from several
threads at once, so `parallel` batches at one intra-op thread each use `parallel` cores; one batch at
two intra-op threads does not (a 320 px nano model gains nothing from a second thread, see
bench/README.md "Detector"), which left a 2-core worker at 1.37 cores busy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from xuncha.detector.onnx import OnnxDetector
from xuncha.types import Detection


def default_parallel() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def chunks(n: int, batch_size: int, parallel: int) -> list[range]:
    """Index ranges of `n` frames: at most `batch_size` each, and at least `parallel` of them when n allows.

    >>> chunks(5, 8, 2)
    [range(0, 3), range(3, 5)]
    >>> chunks(20, 8, 2)
    [range(0, 7), range(7, 14), range(14, 20)]
    >>> chunks(1, 8, 2)
    [range(0, 1)]
    """
    if n == 0:
        return []
    size = max(1, min(batch_size, -(-n // parallel)))
    count = -(-n // size)
    step = -(-n // count)  # spread evenly: 20 frames in 3 chunks are 7/7/6, not 8/8/4
    return [range(k, min(k + step, n)) for k in range(0, n, step)]


class DetectorPool:
    """`parallel` threads that run detectors' batches concurrently (one pool per worker; its idle threads
    end with the process, so a worker can run again after a run)."""

    def __init__(self, parallel: int) -> None:
        self.parallel = parallel
        self._executor = ThreadPoolExecutor(parallel, thread_name_prefix="detect") if parallel > 1 else None

    def detect(self, det: OnnxDetector, images: Sequence[np.ndarray], batch_size: int) -> list[list[Detection]]:
        """`det` on `images` (results in input order), split into batches that run at the same time."""
        parts = chunks(len(images), batch_size, self.parallel)
        if self._executor is None or len(parts) < 2:
            return [d for r in parts for d in det.detect([images[i] for i in r])]
        futures = [self._executor.submit(det.detect, [images[i] for i in r]) for r in parts]
        return [d for f in futures for d in f.result()]
