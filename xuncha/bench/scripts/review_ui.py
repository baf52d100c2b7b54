"""Review throughput in the real UI: seconds per clue on the keyboard path, in headless Chromium.

Seeds `--clues` clues with evidence into a fresh SQLite database, logs an operator in, and clears
the queue with single key presses (accept, or reject with a reason number), timing each from the
key press until the next clue is shown with its scene picture loaded. The baseline, measured in the
same run on a second queue, is the same decisions with a full page reload after each one (what a
server-rendered form would cost). This is system latency: an operator's looking time comes on top.

    .venv/bin/xuncha bench review-ui [--clues 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from review_support import (  # noqa: E402 - the test helpers seed the database and serve the app
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    add_users,
    database,
    review_config,
    seed,
)

from xuncha.review.app import create_app  # noqa: E402
from xuncha.taxonomy import load_taxonomy  # noqa: E402

KEYS = ["a", "a", "1", "a", "3", "a", "2", "a", "a", "4"]  # ~60 % accepted, like a good week


def _shown(page: Page, total: int) -> None:
    page.wait_for_function(
        "([t]) => document.getElementById('total').textContent === String(t) && (t === 0 ||"
        " (document.getElementById('scene').complete && document.getElementById('scene').naturalWidth > 0))",
        arg=[total],
    )


def run_queue(page: Page, url: str, n: int, reload: bool) -> list[float]:
    page.goto(url + "/")
    _shown(page, n)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        page.keyboard.press(KEYS[i % len(KEYS)])
        _shown(page, n - i - 1)
        if reload:
            page.reload()
            _shown(page, n - i - 1)
        times.append(time.perf_counter() - t0)
    return times


def _summary(name: str, times: list[float]) -> str:
    qs = statistics.quantiles(times, n=20)
    return (
        f"{name:<24} {len(times):>5} {statistics.mean(times):>9.3f} {statistics.median(times):>9.3f}"
        f" {qs[18]:>9.3f} {sum(times):>9.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clues", type=int, default=60, help="clues per queue")
    args = ap.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for name, reload in (("keyboard, no reload", False), ("baseline: reload/clue", True)):
            root = Path(tmp) / ("reload" if reload else "keys")
            root.mkdir()
            with database("sqlite", root) as (_url, sessions):
                add_users(sessions)
                cfg = review_config(root)
                seed(sessions, cfg.evidence_root, args.clues)
                with LiveServer(create_app(cfg, load_taxonomy(), sessions)) as server:
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    page.goto(server.url + "/login")
                    page.fill("input[name=username]", "op1")
                    page.fill("input[name=password]", "op1-pass-1")
                    page.press("input[name=password]", "Enter")
                    page.wait_for_url(server.url + "/")
                    results[name] = run_queue(page, server.url, args.clues, reload)
                    page.close()
        browser.close()
    print(f"review UI, {args.clues} clues per queue, headless Chromium, SQLite, seconds per clue")
    print(f"{'path':<24} {'clues':>5} {'mean':>9} {'median':>9} {'p95':>9} {'total':>9}")
    for name, times in results.items():
        print(_summary(name, times))
    keys, base = (statistics.mean(t) for t in results.values())
    print(f"keyboard path is {base / keys:.1f}x faster than reloading per clue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
