"""How long `xuncha review create-user --password-stdin` takes, against a baseline revision, in one run.

    xuncha bench cli-startup --baseline 0bc07c0 --runs 7

The baseline revision is checked out in a temporary git worktree and run with PYTHONPATH pointing at
it (same interpreter and packages). Runs alternate between the two trees, each on its own migrated
SQLite database (one warm-up run each, not counted). Prints the median CPU seconds (user + sys of the
child) and wall seconds of each, and their ratios. CPU time is the figure to compare on a shared,
busy machine: wall time there mostly measures the queue for a core.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _run_once(tree: Path, config: Path, name: str) -> tuple[float, float]:
    """(cpu, wall) seconds of one create-user in `tree`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = ["review", "--config", str(config), "create-user", name, "--password-stdin"]
    subprocess.run(
        [sys.executable, "-m", "xuncha.cli", *command],
        input=b"bench-password-1\n",
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, help="git revision to compare with, e.g. a commit before a change")
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="xuncha-cli-bench-") as tmp:
        base_tree = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(base_tree), args.baseline],
            check=True,
            capture_output=True,
        )
        try:
            trees = {"baseline": base_tree, "current": REPO}
            configs = {}
            for label in trees:
                configs[label] = Path(tmp) / f"{label}.yaml"
                configs[label].write_text(f"data_dir: {Path(tmp) / label}\n", encoding="utf-8")
                _run_once(trees[label], configs[label], "warmup")  # migrates the fresh database
            results: dict[str, list[tuple[float, float]]] = {label: [] for label in trees}
            for i in range(args.runs):
                for label, tree in trees.items():
                    results[label].append(_run_once(tree, configs[label], f"user{i}"))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base_tree)], check=False)
    med = {k: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for k, v in results.items()}
    print(f"xuncha review create-user --password-stdin, {args.runs} runs each (median), baseline {args.baseline}")
    for label, (cpu, wall) in med.items():
        print(f"  {label:9s} cpu {cpu:6.2f} s   wall {wall:6.2f} s")
    (bc, bw), (cc, cw) = med["baseline"], med["current"]
    print(f"  ratio     cpu {bc / cc:6.2f}x   wall {bw / cw:6.2f}x  (baseline / current)")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
