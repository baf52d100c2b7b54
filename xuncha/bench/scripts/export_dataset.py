"""Dataset export: seconds for `xuncha review export-dataset` of N reviewed clues, against copying the same files.

Seeds a SQLite review database in a temporary folder with N decided clues (half filed, half rejected,
40 cameras over 30 days), each with a scene picture rendered from a real frame of the shared footage
(as the worker writes them). Then, interleaved `--repeat` times so machine load hits both alike:

  copy only     shutil.copyfile of every scene picture into a fresh folder (the file-system floor)
  export        the command's work: query the decisions, plan, copy, labels, manifest, data.yaml

    .venv/bin/xuncha bench export-dataset [--clues 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2

from xuncha.clues.evidence import JPEG_QUALITY, EvidenceStore, render_scene
from xuncha.db.clues import ACCEPTED, REJECTED, Clue, Decision
from xuncha.db.engine import open_database
from xuncha.review.auth import create_user
from xuncha.review.export import Filters, reviewed, write_export

FOOTAGE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "footage" / "sidewalk_bag_left.avi"
TZ = ZoneInfo("Asia/Shanghai")
BOX = (300.0, 200.0, 380.0, 300.0)


def scene_jpegs(n: int) -> list[bytes]:
    """n scene pictures as the worker renders them (zone, box, label, time stamp) on footage frames."""
    cap = cv2.VideoCapture(str(FOOTAGE))
    out: list[bytes] = []
    while len(out) < n:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        poly = [(0, h // 2), (w, h // 2), (w, h), (0, h)]
        pic = render_scene(frame, BOX, poly, "乱堆物堆料 0.81", datetime.now(TZ))
        out.append(cv2.imencode(".jpg", pic, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes())
        for _ in range(10):
            cap.grab()
    cap.release()
    return out


def seed(root: Path, n: int, jpegs: list[bytes], size: tuple[int, int]) -> tuple[str, Path]:
    evidence = root / "evidence"
    url = f"sqlite:///{root / 'review.sqlite'}"
    engine, sessions = open_database(url)
    t0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
    with sessions.begin() as s:
        user = create_user(s, "op1", "op1-pass-long", "operator")
        s.flush()
        for i in range(n):
            seen = t0 + timedelta(days=i % 30, seconds=7 * i)
            clue_id = f"clue-{i:06d}"
            rel = f"{seen.astimezone(TZ).date()}/{clue_id}/scene.jpg"
            (evidence / rel).parent.mkdir(parents=True, exist_ok=True)
            (evidence / rel).write_bytes(jpegs[i % len(jpegs)])
            filed = i % 2 == 1
            s.add(
                Clue(
                    id=clue_id, status=ACCEPTED if filed else REJECTED, last_seq=0, camera_id=f"cam-{i % 40}",
                    camera_name="x", zone_id="z", zone_name="z", category_code="0507", category_name="乱堆物堆料",
                    model_name="m", label="static_object", score=0.8, box=list(BOX), frame_w=size[0],
                    frame_h=size[1], first_seen=seen, last_seen=seen, dwell_s=60, occurrences=5,
                    evidence={"scene": {"path": rel, "taken_at": seen.isoformat()}},
                )
            )  # fmt: skip
            s.add(
                Decision(
                    clue_id=clue_id, accepted=filed, category_code="0507", user_id=user.id,
                    reason_code=None if filed else "misdetection", decided_at=seen + timedelta(minutes=5),
                )
            )  # fmt: skip
    engine.dispose()
    return url, evidence


def copy_only(evidence: Path, out: Path) -> None:
    out.mkdir()
    for i, src in enumerate(sorted(evidence.glob("*/*/scene.jpg"))):
        shutil.copyfile(src, out / f"{i}.jpg")


def export(url: str, evidence: Path, out: Path) -> None:
    engine, sessions = open_database(url)
    with sessions() as s:
        rows = reviewed(s, Filters(), TZ)
    engine.dispose()
    write_export(rows, EvidenceStore(evidence), out, TZ)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clues", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not FOOTAGE.is_file():
        print(f"footage missing: {FOOTAGE}", file=sys.stderr)
        return 2
    jpegs = scene_jpegs(8)
    cap = cv2.VideoCapture(str(FOOTAGE))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    with tempfile.TemporaryDirectory(prefix="xuncha-export-bench-") as tmp:
        root = Path(tmp)
        url, evidence = seed(root, args.clues, jpegs, size)
        mean_kb = statistics.mean(len(j) for j in jpegs) / 1024
        print(f"{args.clues} reviewed clues, scene pictures {size[0]}x{size[1]} ~{mean_kb:.0f} KB each")
        times: dict[str, list[float]] = {"copy only": [], "export": []}
        for k in range(args.repeat):
            for name, run in (("copy only", copy_only), ("export", lambda e, o: export(url, e, o))):
                out = root / f"out-{name.replace(' ', '-')}-{k}"
                start = time.perf_counter()
                run(evidence, out)
                times[name].append(time.perf_counter() - start)
                shutil.rmtree(out)
        base = statistics.median(times["copy only"])
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:10s} median {med:6.2f} s  ({args.clues / med:7.0f} clues/s, {med / base:4.2f}x copy only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
