"""Live RTSP source against a real gst-rtsp-server: sampling, kill/stop/restart recovery, masking.

The server serves the shared footage without re-encoding: indoor_people_standing (1 s GOP),
carpark_topdown (4.8 s GOP: too sparse for keyframe sampling at 1 s), shopping_street (B-frames,
one keyframe per 4.1 s loop), plus a still picture encoded at test time (a frozen camera).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_file
from rtsp_server import RtspServer, looped_copy, missing_requirements, still_clip

from xuncha.health.monitor import HealthMonitor
from xuncha.streams.backoff import Backoff
from xuncha.streams.rtsp import RtspSource

FOOTAGE = ("indoor_people_standing", "carpark_topdown", "shopping_street")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    sources = {name: shared_file(f"footage/{name}.mp4") for name in FOOTAGE}
    tmp = tmp_path_factory.mktemp("rtsp")
    out = {name: looped_copy(src, tmp / f"{name}.mp4", 300) for name, src in sources.items()}
    out["frozen"] = still_clip(sources["indoor_people_standing"], tmp / "frozen.mp4", 120)
    return out


@pytest.fixture(scope="module")
def server(clips: dict[str, Path]):
    with RtspServer(clips) as srv:
        yield srv


@dataclass
class Run:
    """Consumes one source in its own thread, recording (receive wall time, frame)."""

    source: RtspSource
    stop: threading.Event = field(default_factory=threading.Event)
    got: list[tuple[float, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._loop, name=self.source.camera_id, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        for frame in self.source.frames(self.stop):
            self.got.append((time.time(), frame))

    def ts(self) -> list[float]:
        return [f.ts for _, f in self.got]

    def wait_frame_after(self, t: float, timeout_s: float) -> float:
        """Seconds from `t` to the first frame received after `t`; fails after `timeout_s`."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            later = [ts for ts in self.ts() if ts > t]
            if later:
                return later[0] - t
            time.sleep(0.05)
        pytest.fail(f"camera {self.source.camera_id}: no frame within {timeout_s}s ({self.source.health})")

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(self.source.timeout[1] + 3)  # stop is seen within one read timeout
        assert not self.thread.is_alive(), f"camera {self.source.camera_id} did not stop"


def wait_state(source: RtspSource, state: str, timeout_s: float) -> float:
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        if source.health.state == state:
            return time.time() - t0
        time.sleep(0.05)
    pytest.fail(f"camera {source.camera_id}: not {state} within {timeout_s}s ({source.health})")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


# --- pure parts -------------------------------------------------------------------------------


def test_keyframe_sampling_keeps_the_interval_on_average() -> None:
    """A sample taken at the first keyframe after its due time must not push the grid back (2 s GOP, 5 s)."""
    source = RtspSource("cam", "rtsp://127.0.0.1:1/x", interval_s=5.0)
    image = np.zeros((8, 8, 3), np.uint8)

    class Keyframe:
        def to_ndarray(self, format: str) -> np.ndarray:  # noqa: A002 (PyAV's name)
            return image

    taken = []
    for i in range(300):  # 600 s of keyframes every 2 s
        now = 2.0 * i
        if now >= source._due - 0.1 * source.interval_s:
            taken.append(source._sample(Keyframe(), now).ts)  # type: ignore[arg-type]
    assert 600 / len(taken) == pytest.approx(5.0, rel=0.02)


def test_backoff_doubles_up_to_the_cap_with_jitter_below() -> None:
    b = Backoff(initial=1, cap=30, jitter=0.3)
    for n, base in enumerate([1, 2, 4, 8, 16, 30, 30, 30]):
        assert base * 0.7 <= b.delay(n) <= base
    assert b.delay(1000) <= 30
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=5, cap=1)


def test_health_states_from_events() -> None:
    m = HealthMonitor("c1", frozen_after_s=2, stale_after_s=5)
    assert m.snapshot(0).state == "connecting"
    m.connecting()
    rng = np.random.default_rng(0)
    for t in range(4):  # a live picture: noise changes every sample
        m.frame(t)
        m.sample(t, rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert m.snapshot(3.5).state == "up"
    assert m.snapshot(8.1).state == "down" and m.snapshot(8.1).down_since == 8  # stale: no frame for 5 s
    still = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    for t in range(4, 8):
        m.frame(t)
        m.sample(t, still)
        # the picture is the same since t=4: frozen once that is over 2 s ago
        assert m.snapshot(t).state == ("frozen" if t - 4 > 2 else "up")
    m.connecting()
    m.failed(9, "camera c1: boom")
    h = m.snapshot(10)
    assert (h.state, h.down_since, h.reconnects, h.last_error, h.last_frame_ts) == ("down", 9, 1, "camera c1: boom", 7)
    m.frame(11)
    assert m.snapshot(11).state in ("up", "frozen") and m.snapshot(11).down_since is None


def test_bad_parameters_name_the_camera_not_the_password() -> None:
    with pytest.raises(ValueError, match="camera cam7: sample interval") as e:
        RtspSource("cam7", "rtsp://admin:Secr3tPw@10.0.0.7/stream", interval_s=0)
    assert "Secr3tPw" not in str(e.value)
    with pytest.raises(ValueError, match="mode"):
        RtspSource("cam7", "rtsp://10.0.0.7/stream", interval_s=1, mode="all")  # type: ignore[arg-type]
    assert (
        RtspSource("cam7", "rtsp://admin:Secr3tPw@10.0.0.7/s", interval_s=1).safe_url == "rtsp://admin:***@10.0.0.7/s"
    )


# --- against the real server ------------------------------------------------------------------


def test_several_cameras_sample_at_their_interval(server: RtspServer) -> None:
    backoff = Backoff(initial=0.5, cap=2)
    runs = {
        "indoor": Run(RtspSource("indoor", server.url("indoor_people_standing"), interval_s=1, backoff=backoff)),
        "carpark": Run(RtspSource("carpark", server.url("carpark_topdown"), interval_s=1, backoff=backoff)),
        "street": Run(RtspSource("street", server.url("shopping_street"), interval_s=1, mode="interval")),
        "patrol": Run(RtspSource("patrol", server.url("indoor_people_standing"), interval_s=1.5, mode="patrol")),
        "frozen": Run(RtspSource("frozen", server.url("frozen"), interval_s=0.5, frozen_after_s=2)),
        # B-frames and a 4.1 s GOP: keyframes only at a 2 s interval, each one sampled on arrival
        "street_kf": Run(RtspSource("street_kf", server.url("shopping_street"), interval_s=2)),
    }
    time.sleep(7)
    health = {name: run.source.health for name, run in runs.items()}
    for run in runs.values():
        run.finish()
    for name, run in runs.items():
        ts = run.ts()
        assert len(ts) >= (2 if name == "street_kf" else 4), f"{name}: {len(ts)} samples in 7 s ({health[name]})"
        # Samples may come up to 10 % early (arrival jitter), never earlier.
        assert min(np.diff(ts)) >= 0.89 * run.source.interval_s, f"{name}: samples closer than the interval"
        assert all(abs(received - f.ts) < 0.5 for received, f in run.got)  # stamped at receive time
        assert all(f.camera_id == name and f.image.dtype == np.uint8 for _, f in run.got)
    assert runs["indoor"].got[0][1].image.shape == (432, 768, 3)
    assert runs["street"].got[0][1].image.shape == (388, 690, 3)
    assert runs["frozen"].got[0][1].image.shape == (216, 384, 3)
    assert health["indoor"].sampling == "keyframes"  # 1 s GOP: keyframes suffice
    assert health["carpark"].sampling == "interval"  # 4.8 s GOP at a 1 s interval: fell back
    assert health["street_kf"].sampling == "keyframes"
    assert health["patrol"].reconnects >= 3  # one connection per sample
    assert {n: h.state for n, h in health.items()} == {
        "indoor": "up",
        "carpark": "up",
        "street": "up",
        "patrol": "up",
        "frozen": "frozen",
        "street_kf": "up",
    }
    assert all(h.reconnects == 0 and h.decode_errors == 0 for n, h in health.items() if n != "patrol")


def test_recovers_from_server_killed_and_frozen_others_unaffected(server: RtspServer, clips: dict[str, Path]) -> None:
    cap = 2.0
    victim_server = RtspServer({"cam": clips["indoor_people_standing"]}).start()
    try:
        victim = Run(
            RtspSource(
                "victim",
                victim_server.url("cam"),
                interval_s=1,
                read_timeout_s=2,
                open_timeout_s=2,
                backoff=Backoff(initial=0.5, cap=cap),
            )
        )
        other = Run(RtspSource("other", server.url("indoor_people_standing"), interval_s=1))
        victim.wait_frame_after(time.time(), 8)
        other.wait_frame_after(time.time(), 8)
        rss_before = rss_mb()

        killed = time.time()
        victim_server.kill()
        assert wait_state(victim.source, "down", 3) < 3  # a reset connection is noticed at once
        time.sleep(3)  # several reconnects are refused meanwhile
        h = victim.source.health
        assert h.state == "down" and killed <= h.down_since <= killed + 3 and h.reconnects >= 2
        restarted = time.time()
        victim_server.start()  # same port
        assert victim.wait_frame_after(restarted, cap + 4) < cap + 4
        assert victim.source.health.state == "up"

        victim_server.signal(19)  # SIGSTOP: the connection stays open and goes silent
        noticed = wait_state(victim.source, "down", 12)
        assert noticed < 2 * 2 + 2  # read timeout 2 s: measured twice that (PyAV/FFmpeg RTSP), plus slack
        assert "exit requested" in (victim.source.health.last_error or "")
        resumed = time.time()
        victim_server.signal(18)  # SIGCONT
        assert victim.wait_frame_after(resumed, cap + 4) < cap + 4
        assert victim.source.health.state == "up"
        growth = rss_mb() - rss_before
        victim.finish()
        other.finish()
    finally:
        victim_server.stop()
    gaps = np.diff(other.ts())
    assert gaps.max() < 2.0, f"other camera stalled for {gaps.max():.1f}s"
    assert other.source.health.reconnects == 0
    assert growth < 40, f"RSS grew {growth:.0f} MB over reconnects"


def test_passwords_never_in_logs_health_or_errors(clips: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password, wrong = "Secr3t-Pw9", "Wr0ng-Pw7"
    with RtspServer({"cam": clips["indoor_people_standing"]}, auth=("admin", password)) as srv:
        runs = [
            Run(RtspSource("good", srv.url("cam", f"admin:{password}"), interval_s=1)),
            Run(RtspSource("bad", srv.url("cam", f"admin:{wrong}"), interval_s=1, backoff=Backoff(0.5, 1))),
            Run(RtspSource("nomount", srv.url("nope", f"admin:{password}"), interval_s=1, backoff=Backoff(0.5, 1))),
        ]
        runs[0].wait_frame_after(time.time(), 8)
        time.sleep(2)
        health = [r.source.health for r in runs]
        for r in runs:
            r.finish()
    assert health[0].state == "up"
    assert health[1].state == "down" and "401" in (health[1].last_error or "")
    assert health[2].state == "down" and "404" in (health[2].last_error or "")
    assert "rtsp://admin:***@127.0.0.1" in caplog.text
    texts = [caplog.text, *map(repr, health), *(m.getMessage() for m in caplog.records)]
    assert not [t for t in texts if password in t or wrong in t]
