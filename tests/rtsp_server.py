"""A real RTSP server for tests and benchmarks: GStreamer's gst-rtsp-server serving H.264 MP4 files.

Two halves in one file. `RtspServer` (imported from the venv) starts this file as a script with
the SYSTEM `/usr/bin/python3`, because GObject introspection (python3-gi) lives there, in its own
session so that SIGKILL/SIGSTOP sent by a test reach only the server. The script serves each
`--mount name=path.mp4` at rtsp://127.0.0.1:PORT/name without re-encoding
(qtdemux ! h264parse ! rtph264pay), paced in real time; every client gets its own pipeline
starting at the beginning of the file. `looped_copy()` makes a long stream copy of a short clip
(ffmpeg -stream_loop, no re-encode) so a client never sees the end of the file during a test;
`still_clip()` encodes a frozen picture (the one clip that needs libx264).

Needs Debian packages: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad ffmpeg.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
READY = "RTSP-READY"


def missing_requirements() -> str | None:
    """Why the server cannot run here, or None."""
    if shutil.which("ffmpeg") is None:
        return "ffmpeg not installed"
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    r = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30)
    if r.returncode != 0:
        return "gst-rtsp-server for the system python missing (apt: python3-gi gir1.2-gst-rtsp-server-1.0)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def looped_copy(src: Path, dst: Path, seconds: float) -> Path:
    """`src` repeated to at least `seconds` long, stream-copied (no re-encode) into `dst`."""
    if not dst.exists():
        tmp = dst.with_suffix(".part.mp4")
        cmd = ["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(src), "-t", str(seconds)]
        subprocess.run([*cmd, "-an", "-c", "copy", str(tmp)], check=True, timeout=120)
        tmp.rename(dst)
    return dst


def still_clip(src: Path, dst: Path, seconds: float) -> Path:
    """One picture of `src` repeated for `seconds` at 10 fps, 1 s GOP: a camera whose picture froze."""
    if not dst.exists():
        tmp = dst.with_suffix(".part.mp4")
        vf = "trim=end_frame=1,loop=loop=-1:size=1,setpts=N/10/TB,scale=384:216"
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-vf", vf, "-r", "10", "-t", str(seconds), "-an"]
        cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p", str(tmp)]
        subprocess.run(cmd, check=True, timeout=120)
        tmp.rename(dst)
    return dst


class RtspServer:
    """A gst-rtsp-server child process on 127.0.0.1; `url(mount)` gives a stream's address."""

    def __init__(self, mounts: dict[str, Path], port: int | None = None, auth: tuple[str, str] | None = None):
        self.mounts = mounts
        self.port = port or free_port()
        self.auth = auth
        self.proc: subprocess.Popen[str] | None = None

    def url(self, mount: str, userinfo: str | None = None) -> str:
        return f"rtsp://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}/{mount}"

    def start(self, timeout_s: float = 20.0) -> RtspServer:
        cmd = [SYSTEM_PYTHON, __file__, "--port", str(self.port)]
        cmd += [a for name, path in self.mounts.items() for a in ("--mount", f"{name}={path}")]
        if self.auth:
            cmd += ["--auth", f"{self.auth[0]}:{self.auth[1]}"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # the restart after SIGKILL may find the port briefly busy
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if line.startswith(READY):
                return self
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"RTSP server exited with {self.proc.returncode} (port {self.port})")
        self.stop()
        raise RuntimeError(f"RTSP server not ready within {timeout_s}s")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL, like a crashed server; clients see the connection reset."""
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(port: int, mounts: list[str], auth: str | None) -> None:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    if auth:
        user, password = auth.split(":", 1)
        rtsp_auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        rtsp_auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(rtsp_auth)
    for spec in mounts:
        name, path = spec.split("=", 1)
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            f'( filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )'
        )
        if auth:
            perms = GstRtspServer.RTSPPermissions()
            perms.add_role_from_structure(
                Gst.Structure.new_from_string(
                    "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
                )
            )
            factory.set_permissions(perms)
        server.get_mount_points().add_factory(f"/{name}", factory)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(READY, port, flush=True)
    loop.run()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mount", action="append", default=[], help="name=/path/to/file.mp4")
    ap.add_argument("--auth", help="user:password for basic auth on every mount")
    args = ap.parse_args()
    _serve(args.port, args.mount, args.auth)
