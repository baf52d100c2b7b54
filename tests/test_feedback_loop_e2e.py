"""The feedback loop end to end (issue 20's goal), every stage the real thing on real footage:

a live `xuncha worker` runs the shipped garbage model on sidewalk_bag_left.avi and its clues reach a
`xuncha review` service over the embedded broker; in headless Chromium an operator files the left bag
and rejects the people the model took for garbage (固定设施 / 误报) with the page's buttons;
`export-dataset`, `xuncha train` (1 epoch at 160 px on the export + 12 street_trashbags photos) and
`xuncha bench shadow` run as commands; an admin uploads the report and presses 推广 on 模型管理; the
same worker process, never restarted, swaps to the promoted file (its log names the file and checksum).
Screenshots go to artifacts/loop/.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import shared_file
from review_support import CHROMIUM, add_users, chromium_page
from sqlalchemy import func, select
from test_worker_live import free_port, get, wait_for

from xuncha.db.clues import Clue, Decision
from xuncha.db.engine import open_database
from xuncha.detector.cards import load_detector

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "loop"
BOX_ZONE = [[0.55, 0.58], [1.0, 0.58], [1.0, 1.0], [0.55, 1.0]]  # the utility box where the bag is left
WALK_ZONE = [[0.0, 0.3], [0.55, 0.3], [0.55, 1.0], [0.0, 1.0]]  # the walkway people cross

pytest.importorskip("ultralytics", reason="needs the [train] extra")
pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)", allow_module_level=True)


def _xuncha(*args: str, log: Path | None = None) -> subprocess.Popen:
    out = log.open("w", encoding="utf-8") if log else subprocess.PIPE
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "xuncha.cli", *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
    )


def _run(*args: str, timeout: float) -> str:
    proc = _xuncha(*args)
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _configs(tmp: Path, review_port: int, worker_token: str) -> tuple[Path, Path]:
    rule = {"category": "0102", "labels": ["garbage"], "min_score": 0.2}
    worker = {
        "data_dir": str(tmp / "w"),
        "detectors": {"models": ["garbage"], "stationary": False, "threads": 1},
        # Leases keep the live loop up after the clip has played (as a camera stream would); 1 s rounds.
        "leases_url": f"sqlite:///{tmp / 'w' / 'leases.sqlite'}",
        "lease_ttl_s": 3,
        "review_url": f"http://127.0.0.1:{review_port}",
        "review_token": worker_token,
        "cameras": [
            {
                "id": "sidewalk",
                "name": "人行道",
                "source": str(shared_file("footage/sidewalk_bag_left.avi")),
                "sample_interval_s": 1.0,
                "zones": [
                    {"id": "box", "name": "配电箱旁", "polygon": BOX_ZONE, "rules": [{**rule, "dwell_s": 3}]},
                    {"id": "walk", "name": "人行道", "polygon": WALK_ZONE, "rules": [{**rule, "dwell_s": 0}]},
                ],
            }
        ],
    }
    review = {
        "data_dir": str(tmp / "review"),
        "broker_url": f"sqla+sqlite:///{tmp / 'w' / 'broker.sqlite'}",
        "evidence_dir": str(tmp / "w" / "evidence"),
        "port": review_port,
        "public_url": f"http://127.0.0.1:{review_port}",
        "cookie_secure": False,
        "undo_window_s": 0,
    }
    (tmp / "w").mkdir()
    paths = tmp / "worker.yaml", tmp / "review.yaml"
    for path, data in zip(paths, (worker, review), strict=True):
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return paths


def _login(page, url: str, user: str, next_path: str) -> None:  # noqa: ANN001 - a Playwright page
    page.goto(f"{url}/login?next={next_path}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", f"{user}-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(url + next_path)


def test_reviews_retrain_shadow_promote_and_the_running_worker_swaps(tmp_path: Path, tiny_set: Path) -> None:
    times: dict[str, float] = {}
    mark = time.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        times[name] = round(time.monotonic() - mark, 1)
        mark = time.monotonic()

    review_port = free_port()
    (tmp_path / "review").mkdir()
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'review' / 'review.sqlite'}")
    tokens = add_users(sessions)
    worker_yaml, review_yaml = _configs(tmp_path, review_port, tokens["worker"])
    url = f"http://127.0.0.1:{review_port}"
    worker_log = tmp_path / "worker.log"
    review = _xuncha("review", "--config", str(review_yaml), log=tmp_path / "review.log")
    worker = None
    try:
        wait_for(lambda: _up(url) or review.poll() is not None, timeout=30)
        assert review.poll() is None, (tmp_path / "review.log").read_text()
        worker = _xuncha("worker", "--config", str(worker_yaml), log=worker_log)

        # The clip plays in real time (39 s); every clue the worker opened reaches the review service.
        wait_for(lambda: "end of sidewalk_bag_left.avi" in worker_log.read_text(), timeout=120, every=1)
        opened = re.findall(r"clue opened (\S+) camera=sidewalk zone=(\w+)", worker_log.read_text())
        zones = dict(opened)
        assert list(zones.values()).count("box") == 1 and list(zones.values()).count("walk") >= 2, opened  # bag, people

        def arrived() -> bool:
            with sessions() as s:
                return s.scalar(select(func.count()).select_from(Clue)) == len(zones)

        wait_for(arrived, timeout=30)
        lap("worker clip and intake")

        # The operator decides every clue on the review page: the bag is filed, people are rejected.
        with chromium_page(ARTIFACTS) as page:
            _login(page, url, "op1", "/")
            rejected_as: dict[str, str] = {}
            for _ in zones:
                page.wait_for_function("document.getElementById('f-id').textContent !== ''")
                page.wait_for_function("document.getElementById('scene').naturalWidth > 0")
                clue_id = page.text_content("#f-id") or ""
                # Fewer than a window (50) of reviews: every zone runs at its rules, and the details say so.
                assert page.text_content("#f-gating") == "首次发现时：场景默认值；现在：场景默认值"
                if page.text_content("#f-zone") == "配电箱旁":
                    page.screenshot(path=str(ARTIFACTS / "01-bag-to-file.png"))
                    page.click("#btn-accept")
                else:
                    reason = "misdetection" if "fixture" in rejected_as.values() else "fixture"
                    page.click(f"#reasons button[data-reason={reason}]")
                    rejected_as[clue_id] = reason
                moved_on = f"document.getElementById('f-id').textContent !== '{clue_id}'"
                page.wait_for_function(f"{moved_on} || !document.getElementById('empty').hidden")
            page.wait_for_selector("#empty", state="visible")
            page.screenshot(path=str(ARTIFACTS / "02-all-reviewed.png"))
        with sessions() as s:
            decided = dict(s.execute(select(Decision.clue_id, Decision.reason_code)).all())
        assert decided == {c: rejected_as.get(c) for c in zones}
        lap("browser review")

        export = tmp_path / "export"
        _run("review", "--config", str(review_yaml), "export-dataset", "--out", str(export), timeout=120)
        manifest = [json.loads(line) for line in (export / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
        assert sorted(r["decision"] for r in manifest) == ["filed"] + ["rejected"] * (len(zones) - 1)
        assert {r["reason"] for r in manifest} == {None, "fixture", "misdetection"}
        lap("export-dataset")

        run = tmp_path / "run"
        args = ["train", "--data", str(tiny_set), "--reviews", str(export), "--run", str(run), "--name", "garbage"]
        args += ["--weights", str(REPO / "xuncha" / "models" / "garbage_fp32.onnx"), "--epochs", "1", "--batch", "4"]
        _run(*args, "--imgsz", "160", "--export-imgsz", "320", timeout=600)
        card = yaml.safe_load((run / "garbage.yaml").read_text(encoding="utf-8"))
        assert f"--reviews {export}" in card["command"] and f"per camera: sidewalk {len(zones)}" in card["source"]
        new_checksum = load_detector(run / "garbage.yaml", threads=1).checksum
        assert card["checksum"] == new_checksum != load_detector("garbage", threads=1).checksum
        lap("train")

        report = tmp_path / "shadow.json"
        shadow = ["bench", "shadow", "--model", str(run / "garbage.yaml"), "--against", "garbage"]
        out = _run(*shadow, "--export", str(export), "--config", str(worker_yaml), "--json", str(report), timeout=300)
        data = json.loads(report.read_text(encoding="utf-8"))
        assert data["replayed"] == len(zones) and data["models"]["model"]["checksum"] == new_checksum
        total = data["rows"][-1]
        assert total["camera_id"] == "合计" and (total["filed"], total["rejected"]) == (1, len(zones) - 1), out
        current = total["models"]["garbage"]
        # The running model sees its clues again on their evidence pictures (JPEG, not the live frame): the
        # filed one, and the rejected ones but at most one. Measured: the shipped int8 model raised 4 of 5
        # again, the fp32 model it was quantised from 5 of 5.
        assert current["found"] == 1 and current["raised"] >= len(zones) - 2, current
        lap("bench shadow")

        # The admin promotes the new model on 模型管理; the running worker swaps to it.
        with chromium_page(ARTIFACTS) as page:
            _login(page, url, "admin", "/models")
            page.set_input_files("input[name=report]", str(report))
            page.click("#upload button[type=submit]")
            page.wait_for_selector("#report")
            page.screenshot(path=str(ARTIFACTS / "03-shadow-report.png"))
            page.on("dialog", lambda d: d.accept())
            page.click("#promote")
            page.wait_for_selector("#current tr[data-model=garbage]")
            assert page.text_content("#current tr[data-model=garbage] .ref") == str(run / "garbage.onnx")
            page.screenshot(path=str(ARTIFACTS / "04-promoted.png"))
        lap("promote in the browser")

        swapped = f"model garbage: now {run / 'garbage.onnx'} {new_checksum} (promote by admin)"
        wait_for(lambda: swapped in worker_log.read_text() or worker.poll() is not None, timeout=60, every=1)
        assert worker.poll() is None and swapped in worker_log.read_text(), worker_log.read_text()[-3000:]
        lap("worker swap")
    finally:
        if worker is not None:
            _stop(worker)
        _stop(review)
        engine.dispose()
        print("feedback loop stage times (s):", times)
    assert worker.returncode == 0, worker_log.read_text()[-3000:]


def _up(url: str) -> bool:
    try:
        return get(f"{url}/login")[0] == 200
    except OSError:  # not listening yet
        return False
