"""Live worker benchmark: how many RTSP cameras one worker process sustains end to end.

A real `Worker` (live mode, in this process) runs N cameras at one sample per `--interval` s
(keyframes-only decoding, batched yolox_nano_coco, stationary-object model, zones, confirmation,
evidence and publishing to the embedded broker) against real gst-rtsp-servers
(tests/rtsp_server.py: separate processes, no re-encoding; their CPU is reported apart).
For each N: start the worker, wait until every camera delivered a sample plus `--warmup` s, then
measure `--seconds` s: this process's CPU (`time.process_time`, all threads), samples per camera
against the expected `seconds / interval`, samples dropped by the one-frame slots (inference fell
behind), inference batch wall time, sample age when processed, and the CPU split by stage:
  receive+decode   feed threads (RTSP/TCP receive, demux, keyframe decode, BGR conversion, health)
  detect           detector calls in the worker thread (letterbox, onnxruntime run, decode of boxes)
  native pools     threads Python does not know: onnxruntime intra-op pool (and OpenCV's, if used)
  stationary       the stationary-object model
  evidence+publish clue evidence images and publishing (embedded SQLite broker unless --broker-url)
  zones+confirm    the rest of the worker thread: zone matching, confirmation, the loop itself
Per-thread CPU comes from /proc/self/task (clock ticks); the worker-thread stages from
`time.thread_time` around the worker's own methods (this script wraps them; nothing is changed).
If the worker's metrics have a `stage` counter, its values are printed as well.

"Sustained": every camera got >= 90 % of its expected samples and the worker used < 2 cores.
Steps stop after the first N not sustained (unless --all). The machine is shared: with --repeat,
each number is the median of the repeats.

Clips (looped 300 s copies, cached in $TMPDIR/xuncha-bench-live): indoor_people_standing.mp4 is
stream-copied (768x432, 10 fps, 1 s GOP); shopping_street.mp4 (4.1 s GOP) and carpark_topdown.mp4
(4.8 s GOP) are re-encoded once to a 1 s GOP, because keyframes-only sampling can only sample at
keyframes: with their own GOPs a 5 s interval gets one sample per 8.2 s / ~6.4 s, which would be
measured as "not keeping up" at any N. Cameras are spread round-robin over `--servers` servers,
each serving every clip under `--mounts-per-clip` mount names.

    .venv/bin/xuncha bench live-worker [--n 16 64 128 160 192] [--seconds 60] [--warmup 10]
        [--repeat 1] [--interval 5] [--no-stationary] [--threads T] [--all]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))  # the test server helper

from rtsp_server import RtspServer, looped_copy, missing_requirements  # noqa: E402

from xuncha.config.worker import WorkerConfig, resolve_config  # noqa: E402
from xuncha.detector.stationary import StationaryObjectModel  # noqa: E402
from xuncha.worker import Worker  # noqa: E402

DATA = REPO.parent / "shared" / "data"
CACHE = Path(tempfile.gettempdir()) / "xuncha-bench-live"
CLIPS = {"indoor": "indoor_people_standing.mp4", "shopping": "shopping_street.mp4", "carpark": "carpark_topdown.mp4"}
MODEL = "yolox_nano_coco"
TICK = os.sysconf("SC_CLK_TCK")
SUSTAIN_RATIO = 0.9
MAX_CORES = 2.0
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
# Rules that fire on this footage, so that confirmation, evidence and publishing do real work.
RULES = [
    {"category": "0508", "labels": ["person"], "min_score": 0.4, "dwell_s": 15},
    {"category": "0505", "labels": ["car", "truck"], "min_score": 0.4, "dwell_s": 20},
    {
        "category": "0507",
        "labels": ["static_object", "suitcase", "backpack", "handbag"],
        "exclude_labels": ["person"],
        "min_score": 0.3,
        "dwell_s": 30,
    },
]
STAGES = ("receive+decode", "detect", "native pools", "stationary", "evidence+publish", "zones+confirm", "other")


def make_clip(name: str) -> Path:
    """A 300 s looped copy of the clip (1 s GOP; see the module docstring)."""
    CACHE.mkdir(exist_ok=True)
    src = DATA / "footage" / CLIPS[name]
    if name == "indoor":
        return looped_copy(src, CACHE / "indoor_300.mp4", 300)
    gop1 = CACHE / f"{name}_gop1.mp4"
    if not gop1.exists():
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-an", "-c:v", "libx264", "-preset", "veryfast"]
        cmd += ["-profile:v", "main", "-bf", "0", "-force_key_frames", "expr:gte(t,n_forced*1)", "-sc_threshold", "0"]
        subprocess.run([*cmd, "-pix_fmt", "yuv420p", str(gop1.with_suffix(".part.mp4"))], check=True, timeout=300)
        gop1.with_suffix(".part.mp4").rename(gop1)
    return looped_copy(gop1, CACHE / f"{name}_300.mp4", 300)


def proc_cpu_s(path: str) -> float:
    """utime + stime of a /proc stat file, in seconds."""
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def task_cpu() -> dict[int, float]:
    """CPU seconds of every thread of this process, by native thread id."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            out[int(tid)] = proc_cpu_s(f"/proc/self/task/{tid}/stat")
        except (OSError, IndexError):  # the thread ended meanwhile
            continue
    return out


@dataclass
class Probe:
    """Measurements taken by wrappers around the worker's methods, only while `on`."""

    on: bool = False
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    batches: list[tuple[float, int]] = field(default_factory=list)  # (wall s, frames)
    ages: list[float] = field(default_factory=list)  # receive -> processing start, s
    events: int = 0

    def reset(self) -> None:
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self.batches, self.ages, self.events = [], [], 0

    def timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                if self.on:
                    self.cpu[stage] += time.thread_time() - t

        return wrapper


def instrument(worker: Worker, probe: Probe) -> None:
    """Wrap the worker's stages (instance attributes shadow the methods; the class is untouched)."""
    detect, process, publish = worker.detect, worker.process, worker.publisher.publish
    timed_detect = probe.timed("detect", detect)

    def detect_batch(frames: list) -> list:
        t = time.perf_counter()
        out = timed_detect(frames)
        if probe.on:
            probe.batches.append((time.perf_counter() - t, len(frames)))
        return out

    def process_batch(batch: list, emit: Callable) -> None:
        if probe.on:
            now = time.time()
            probe.ages.extend(now - f.ts for _, f in batch)
        process(batch, emit)

    def publish_one(*args: Any) -> None:
        if probe.on:
            probe.events += 1
        publish(*args)

    worker.detect = detect_batch  # type: ignore[method-assign]
    worker.process = process_batch  # type: ignore[method-assign]
    worker.publisher.publish = probe.timed("evidence+publish", publish_one)  # type: ignore[method-assign]


def patch_stationary(probe: Probe) -> None:
    """Time the stationary model's update (one class attribute, for this process only)."""
    StationaryObjectModel.update = probe.timed("stationary", StationaryObjectModel.update)  # type: ignore[method-assign]


def stage_counter(worker: Worker) -> dict[str, float] | None:
    """The worker's own `stage` CPU counter, when the metrics have one."""
    stage = getattr(worker.metrics, "stage", None)
    if stage is None:
        return None
    values: dict[str, float] = {}
    for metric in stage.collect():
        for s in metric.samples:
            if s.name.endswith("_total"):
                values[",".join(s.labels.values()) or s.name] = s.value
    return values


def config(n: int, urls: list[str], args: argparse.Namespace, data_dir: Path) -> WorkerConfig:
    # With a garbage model every zone watches 暴露垃圾 too: the model runs on every camera's samples.
    garbage = {"scene": ["exposed_garbage"], "dwell_s": 10} if args.garbage_model else {}
    return WorkerConfig.model_validate(
        {
            "data_dir": str(data_dir),
            "broker_url": args.broker_url,
            "detectors": {
                "models": [MODEL, *([args.garbage_model] if args.garbage_model else [])],
                "stationary": not args.no_stationary,
                "second_look": not args.no_second_look,
                "threads": args.threads,
            },
            "cameras": [
                {
                    "id": f"cam{i:03d}",
                    "source": urls[i % len(urls)],
                    "sample_interval_s": args.interval,
                    "zones": [{"id": "all", "name": "全画面", "polygon": WHOLE, "rules": RULES, **garbage}],
                }
                for i in range(n)
            ],
        }
    )


def run_step(n: int, urls: list[str], servers: list[RtspServer], args: argparse.Namespace, probe: Probe) -> dict:
    with tempfile.TemporaryDirectory(prefix="xuncha-live-") as tmp:
        cfg, taxonomy = resolve_config(config(n, urls, args, Path(tmp)), Path(tmp), "bench")
        worker = Worker(cfg, taxonomy)
        instrument(worker, probe)
        stop = threading.Event()
        thread = threading.Thread(target=lambda: worker.run(once=False, stop=stop), name="bench-worker", daemon=True)
        thread.start()
        ids = [c.id for c in cfg.cameras]

        def samples() -> dict[str, float]:
            return {cid: worker.metrics.samples.labels(cid)._value.get() for cid in ids}

        def dropped() -> dict[str, int]:
            return {cid: feed.slot.dropped for cid, (_, feed, _) in list(worker.live.running.items())}

        try:
            t_start = time.monotonic()
            while min(samples().values()) < 1 and time.monotonic() - t_start < 30 + 0.3 * n and thread.is_alive():
                time.sleep(0.2)
            first_s = time.monotonic() - t_start
            time.sleep(args.warmup)
            s0, d0, tasks0 = samples(), dropped(), task_cpu()
            srv0 = sum(proc_cpu_s(f"/proc/{s.proc.pid}/stat") for s in servers if s.proc)
            stage0 = stage_counter(worker)
            probe.reset()
            probe.on = True
            cpu0, t0 = time.process_time(), time.monotonic()
            time.sleep(args.seconds)
            probe.on = False
            cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
            s1, d1, tasks1 = samples(), dropped(), task_cpu()
            srv = sum(proc_cpu_s(f"/proc/{s.proc.pid}/stat") for s in servers if s.proc) - srv0
            stage1 = stage_counter(worker)
            health = worker.health()["cameras"]
            rss_mb = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            threads = {t.native_id: t.name for t in threading.enumerate()}  # before the feeds stop
        finally:
            stop.set()
            thread.join(60)
    by_stage = dict(probe.cpu)
    worker_thread = 0.0
    for tid, c1 in tasks1.items():
        used = c1 - tasks0.get(tid, 0.0)
        name = threads.get(tid)
        if name is None:
            by_stage["native pools"] += used
        elif name.startswith("feed-"):
            by_stage["receive+decode"] += used
        elif name == "bench-worker":
            worker_thread += used
        else:
            by_stage["other"] += used
    by_stage["zones+confirm"] = max(0.0, worker_thread - sum(probe.cpu.values()))
    by_stage["other"] += max(0.0, cpu - sum(c1 - tasks0.get(t, 0.0) for t, c1 in tasks1.items()))
    expected = wall / args.interval
    got = [s1[c] - s0[c] for c in ids]
    cam_min = n * wall / 60
    ages = sorted(probe.ages) or [float("nan")]
    return {
        "n": n,
        "first_s": first_s,
        "wall": wall,
        "cpu": cpu,
        "cores": cpu / wall,
        "cpu_per_cam_min": cpu / cam_min,
        "samples_med": statistics.median(got) / expected,
        "samples_min": min(got) / expected,
        "short": sum(g < SUSTAIN_RATIO * expected for g in got),
        "dropped": sum(d1.get(c, 0) - d0.get(c, 0) for c in ids),
        "batch_n": statistics.median(b for _, b in probe.batches) if probe.batches else 0,
        "batch_ms": 1000 * statistics.median(w for w, _ in probe.batches) if probe.batches else float("nan"),
        "age_p50": ages[len(ages) // 2],
        "age_p95": ages[int(0.95 * (len(ages) - 1))],
        "events": probe.events,
        "down": sum(h.get("state") != "up" for h in health.values()),
        "reconnects": sum(h.get("reconnects") or 0 for h in health.values()),
        "server_cores": srv / wall,
        "rss_mb": rss_mb,
        **{f"stage:{k}": v / cam_min for k, v in by_stage.items()},
        "counter": {k: (stage1 or {}).get(k, 0) - (stage0 or {}).get(k, 0) for k in stage1 or {}},
    }


def sustained(r: dict) -> bool:
    return r["samples_min"] >= SUSTAIN_RATIO and r["cores"] < MAX_CORES


def median_row(runs: list[dict]) -> dict:
    row = {k: statistics.median(r[k] for r in runs) for k, v in runs[0].items() if isinstance(v, int | float)}
    row["counter"] = runs[-1]["counter"]
    return row


def machine() -> str:
    import av
    import cv2
    import numpy
    import onnxruntime

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    mem = int(next(ln.split()[1] for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))) / 2**20
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GB RAM, Linux {platform.release()}, Python "
        f"{platform.python_version()}, onnxruntime {onnxruntime.__version__}, PyAV {av.__version__}, "
        f"OpenCV {cv2.__version__}, numpy {numpy.__version__}; load average {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[16, 64, 128, 160, 192], help="camera counts, rising")
    ap.add_argument("--seconds", type=float, default=60, help="measured time per step")
    ap.add_argument("--warmup", type=float, default=10, help="after every camera's first sample")
    ap.add_argument("--repeat", type=int, default=1, help="runs per N (medians reported)")
    ap.add_argument("--interval", type=float, default=5.0, help="sample interval per camera, s")
    ap.add_argument("--clips", nargs="+", default=list(CLIPS), choices=list(CLIPS))
    ap.add_argument("--servers", type=int, default=4)
    ap.add_argument("--mounts-per-clip", type=int, default=2)
    ap.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: the worker's, all cores)")
    ap.add_argument("--no-stationary", action="store_true", help="without the stationary-object model")
    ap.add_argument("--no-second-look", action="store_true", help="turn the cards' second look off")
    ap.add_argument("--garbage-model", help="add garbage recognition on every camera (a card name or an .onnx path)")
    ap.add_argument("--broker-url", help="kombu URL, e.g. amqp://guest:guest@127.0.0.1:5672// (default: embedded)")
    ap.add_argument("--all", action="store_true", help="go on after the first N not sustained")
    args = ap.parse_args()
    reason = missing_requirements()
    if reason or not (DATA / "models" / f"{MODEL}.onnx").exists():
        sys.exit(f"cannot run: {reason or f'{DATA}/models/{MODEL}.onnx missing'}")
    print(f"machine: {machine()}")
    clips = {name: make_clip(name) for name in args.clips}
    mounts = {f"{name}{k}": path for name, path in clips.items() for k in range(args.mounts_per_clip)}
    servers = [RtspServer(mounts).start() for _ in range(args.servers)]
    # consecutive cameras differ in clip, then in server
    urls = [s.url(f"{c}{k}") for k in range(args.mounts_per_clip) for s in servers for c in args.clips]
    print(
        f"{' + '.join([MODEL, *([args.garbage_model] if args.garbage_model else [])])}, "
        f"stationary model {'off' if args.no_stationary else 'on'}, second look "
        f"{'off' if args.no_second_look else 'on'}, onnxruntime threads "
        f"{args.threads or 'default (all cores)'}, keyframes-only, one sample per {args.interval:g} s; "
        f"{args.seconds:g} s measured after warm-up, median of {args.repeat}; {args.servers} RTSP servers x "
        f"{len(mounts)} mounts ({', '.join(args.clips)}); broker {'given' if args.broker_url else 'embedded SQLite'}\n"
    )
    head = (
        f"{'N':>4} {'cores':>5} {'CPUs/cam-min':>12} {'samples med/min %':>17} {'short':>5} {'dropped':>7} "
        f"{'batch':>5} {'batch ms':>8} {'age p50/p95 s':>13} {'events':>6} {'down':>4} {'server cores':>12} "
        f"{'RSS MB':>6} sustained"
    )
    rows = []
    probe = Probe()
    patch_stationary(probe)
    try:
        print(head, flush=True)
        for n in sorted(args.n):
            runs = []
            for _ in range(args.repeat):
                runs.append(run_step(n, urls, servers, args, probe))
                gc.collect()  # the next step starts without this one's worker (RSS is per step)
            row = median_row(runs)
            ok = sustained(row)
            rows.append((row, ok))
            print(
                f"{n:4d} {row['cores']:5.2f} {row['cpu_per_cam_min']:12.2f} "
                f"{100 * row['samples_med']:8.0f}/{100 * row['samples_min']:<8.0f} {row['short']:5.0f} "
                f"{row['dropped']:7.0f} {row['batch_n']:5.0f} {row['batch_ms']:8.0f} "
                f"{row['age_p50']:6.2f}/{row['age_p95']:<6.2f} {row['events']:6.0f} {row['down']:4.0f} "
                f"{row['server_cores']:12.2f} {row['rss_mb']:6.0f} {'yes' if ok else 'NO'}",
                flush=True,
            )
            if not ok and not args.all:
                break
    finally:
        for s in servers:
            s.stop()
    print("\nCPU seconds per camera-minute by stage (worker process):")
    print(f"{'N':>4} " + " ".join(f"{s:>16}" for s in STAGES) + f" {'total':>8}")
    for row, _ in rows:
        total = sum(row[f"stage:{s}"] for s in STAGES)
        print(f"{row['n']:4.0f} " + " ".join(f"{row[f'stage:{s}']:16.3f}" for s in STAGES) + f" {total:8.3f}")
    if rows and rows[-1][0]["counter"]:
        print(f"worker `stage` counter over the last window: {rows[-1][0]['counter']}")
    best = max((int(r["n"]) for r, ok in rows if ok), default=0)
    rule = f"every camera >= {SUSTAIN_RATIO:.0%} of its samples, worker < {MAX_CORES:g} cores"
    print(f"\nlargest N sustained: {best} ({rule})")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
