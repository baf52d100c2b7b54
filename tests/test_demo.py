"""`xuncha demo`, the README's main command: finds the bag left on the synthetic walkway."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from xuncha.demo import run_demo
from xuncha.demo_clip import render_demo_clip
from xuncha.types import iou


def test_demo_without_any_model_file_finds_the_left_bag(tmp_path: Path) -> None:
    # A fresh machine has no ../shared/data: the stationary-object model alone must find it.
    events = run_demo(None, tmp_path, model=None)
    truth = render_demo_clip(tmp_path / "truth.mp4")
    opened = [e for e in events if e.kind == "opened"]
    assert len(opened) == 1
    assert iou(opened[0].box, truth.box) > 0.6
    assert opened[0].category.name == "乱堆物堆料"


def test_demo_command_prints_its_clue(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "xuncha.cli", "demo", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "1 条线索" in out.stdout and "乱堆物堆料" in out.stdout
    assert "scene.jpg" in out.stdout
