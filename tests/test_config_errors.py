"""Bad worker config files get one clear line naming the file (and camera, zone, field), never a
traceback; what a user may mean is a warning (issue 11, findings 7 and 8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xuncha.config import ConfigError, read_yaml


def _xuncha_worker(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xuncha.cli", "worker", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_non_utf8_and_broken_yaml_are_one_line_errors(tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("cameras:\n  - id: cam\n    name: 东门\n".encode("gbk"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("cameras:\n  - id: cam\n   name: [x\n", encoding="utf-8")
    r = _xuncha_worker(gbk)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"xuncha: {gbk}: not UTF-8 text: byte 0xb6 at offset 31 (line 3)")
    r = _xuncha_worker(broken)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"xuncha: {broken}: not valid YAML: line 3, column 4:")
    with pytest.raises(ConfigError, match=r"line 2\)"):
        read_yaml(_write(tmp_path / "latin1.yaml", "a: 1\nb: caf\xe9\n".encode("latin-1")))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
