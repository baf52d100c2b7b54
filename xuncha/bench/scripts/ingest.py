"""Ingest benchmark: CPU seconds per stream-minute of live RTSP for each sampling strategy.

Streams come from a real gst-rtsp-server (tests/rtsp_server.py, a separate process: its CPU is
reported apart) serving a clip without re-encoding. For each strategy, `--streams` cameras are
read at once, each in its own thread as a worker would; after every camera delivered its first
sample, this process's CPU time (all threads, `time.process_time`) is measured for `--seconds`.
Strategies:
  keyframes  RtspSource, keyframes only, one sample per --interval
  interval   RtspSource, every frame decoded, one converted per --interval
  full       every frame decoded and converted to BGR (what a naive OpenCV read loop does)
Medians over `--repeat` runs; streams per core = 60 / (CPU s per stream-minute).

Clips: "indoor" is the shared indoor_people_standing.mp4 (768x432, 10 fps, 1 s GOP) stream-copied;
"hd" is it re-encoded once (cached) to 1920x1080, 25 fps, 2 s GOP, H.264 Main without B-frames,
the shape of a typical city camera.

    .venv/bin/xuncha bench ingest [--clip indoor hd] [--streams 3] [--seconds 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))  # the test server helper

from rtsp_server import RtspServer, looped_copy, missing_requirements  # noqa: E402

from xuncha.streams.rtsp import RtspSource  # noqa: E402

FOOTAGE = REPO.parent / "shared" / "data" / "footage" / "indoor_people_standing.mp4"
CACHE = Path(tempfile.gettempdir()) / "xuncha-bench-ingest"
STRATEGIES = ("keyframes", "interval", "full")


def make_clip(kind: str) -> Path:
    CACHE.mkdir(exist_ok=True)
    if kind == "indoor":
        return looped_copy(FOOTAGE, CACHE / "indoor_loop.mp4", 600)
    hd = CACHE / "hd_30s.mp4"
    if not hd.exists():
        print("encoding the 1080p clip once (about a minute)...", flush=True)
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(FOOTAGE), "-t", "30", "-an", "-vf", "scale=1920:1080"]
        cmd += ["-r", "25", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-bf", "0"]
        subprocess.run([*cmd, "-g", "50", "-pix_fmt", "yuv420p", str(hd.with_suffix(".part.mp4"))], check=True)
        hd.with_suffix(".part.mp4").rename(hd)
    return looped_copy(hd, CACHE / "hd_loop.mp4", 600)


def full_decode(url: str, stop: threading.Event, counts: list[int], i: int) -> None:
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5, 3)) as c:
        stream = c.streams.video[0]
        stream.codec_context.thread_count = 1
        for vframe in c.decode(stream):
            vframe.to_ndarray(format="bgr24")
            counts[i] += 1
            if stop.is_set():
                return


def sampled(url: str, mode: str, interval: float, stop: threading.Event, counts: list[int], i: int) -> None:
    source = RtspSource(f"cam{i}", url, interval_s=interval, mode=mode)  # type: ignore[arg-type]
    for _ in source.frames(stop):
        counts[i] += 1


def server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime in clock ticks (USER_HZ 100)


def run(server: RtspServer, strategy: str, streams: int, seconds: float, interval: float) -> dict[str, float]:
    stop = threading.Event()
    counts = [0] * streams
    url = server.url("cam")
    if strategy == "full":
        threads = [threading.Thread(target=full_decode, args=(url, stop, counts, i)) for i in range(streams)]
    else:
        args = [(url, strategy, interval, stop, counts, i) for i in range(streams)]
        threads = [threading.Thread(target=sampled, args=a) for a in args]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while min(counts) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert min(counts) > 0, f"{strategy}: a stream delivered nothing in 20 s"
    assert server.proc is not None
    cpu0, srv0, t0, n0 = time.process_time(), server_cpu_s(server.proc.pid), time.monotonic(), sum(counts)
    time.sleep(seconds)
    cpu, srv, wall, n = (
        time.process_time() - cpu0,
        server_cpu_s(server.proc.pid) - srv0,
        time.monotonic() - t0,
        sum(counts) - n0,
    )
    stop.set()
    for t in threads:
        t.join()
    stream_min = streams * wall / 60
    return {"cpu": cpu / stream_min, "server": srv / stream_min, "samples": n / stream_min}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", nargs="+", default=["indoor", "hd"], choices=["indoor", "hd"])
    ap.add_argument("--streams", type=int, default=3, help="cameras read at once")
    ap.add_argument("--seconds", type=float, default=20, help="measured time per run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--interval", type=float, default=2.0, help="sample interval of keyframes/interval")
    args = ap.parse_args()
    reason = missing_requirements()
    if reason or not FOOTAGE.exists():
        sys.exit(f"cannot run: {reason or f'{FOOTAGE} missing'}")
    print(f"{args.streams} streams at once, {args.seconds:g} s per run, median of {args.repeat};")
    print(f"sampling interval {args.interval:g} s; CPU of this process (all threads), server apart\n")
    head = ("clip", "strategy", "CPU s/stream-min", "streams/core", "samples/min", "server s/min")
    print(f"{head[0]:7} {head[1]:10} {head[2]:>17} {head[3]:>13} {head[4]:>12} {head[5]:>13}")
    for clip in args.clip:
        with RtspServer({"cam": make_clip(clip)}) as server:
            for strategy in STRATEGIES:
                runs = [run(server, strategy, args.streams, args.seconds, args.interval) for _ in range(args.repeat)]
                cpu = statistics.median(r["cpu"] for r in runs)
                samples = statistics.median(r["samples"] for r in runs)
                srv = statistics.median(r["server"] for r in runs)
                print(f"{clip:7} {strategy:10} {cpu:17.2f} {60 / cpu:13.1f} {samples:12.1f} {srv:13.2f}", flush=True)


if __name__ == "__main__":
    main()
