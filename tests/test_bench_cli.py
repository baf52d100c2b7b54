"""`xuncha bench`: every benchmark script is a listed subcommand that hands all its arguments to the script."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from xuncha import cli
from xuncha.bench.scripts import scripts

SCRIPTS = Path(cli.__file__).parent / "bench" / "scripts"


def test_every_script_module_is_listed_with_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["bench", "--help"])
    assert stop.value.code == 0
    listing = " ".join(capsys.readouterr().out.split())  # argparse wraps the help lines
    modules = sorted(p.stem for p in SCRIPTS.glob("*.py") if p.stem != "__init__")
    assert len(modules) >= 19 and sorted(n.replace("-", "_") for n in scripts()) == modules
    for name, summary in scripts().items():
        assert summary and f"{name} {summary}" in listing
    assert "live-worker Live worker benchmark: how many RTSP cameras" in listing


@pytest.mark.parametrize("name", sorted(scripts()))
def test_script_help_is_the_scripts_own(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # the command sets argv for the script's argparse
    with pytest.raises(SystemExit) as stop:
        cli.main(["bench", name, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: xuncha bench {name} [-h]")
    assert " ".join(scripts()[name].split()[:4]) in " ".join(out.split())


def test_arguments_reach_the_script(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    with pytest.raises(SystemExit) as stop:  # the script's argparse refuses a value that is not a number
        cli.main(["bench", "broker-growth", "--events", "many"])
    assert stop.value.code == 2
    assert "xuncha bench broker-growth: error: argument --events: invalid int value: 'many'" in capsys.readouterr().err
