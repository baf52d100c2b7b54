"""`xuncha review create-user --password-stdin` as an operator runs it (the real `xuncha` command, PostgreSQL):
line endings, the confirmation line, blank passwords, quiet normal runs (issue 11, finding 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import pg_schema_url
from sqlalchemy import select

from xuncha import cli
from xuncha.db.engine import open_database
from xuncha.db.users import User
from xuncha.review import auth

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.postgres


@pytest.fixture
def review(tmp_path: Path):
    """Runs `xuncha review --config ... create-user NAME --password-stdin` with `stdin`; the session factory."""
    with pg_schema_url("t_cli") as url:
        path = tmp_path / "review.yaml"
        path.write_text(yaml.safe_dump({"data_dir": str(tmp_path), "database_url": url}), encoding="utf-8")

        def run(name: str, stdin: str) -> subprocess.CompletedProcess[str]:
            argv = ["review", "--config", str(path), "create-user", name, "--password-stdin"]
            r = subprocess.run(
                [sys.executable, "-m", "xuncha.cli", *argv],
                input=stdin.encode(),  # bytes: \r\n reaches the command as typed
                capture_output=True,
                timeout=120,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())

        engine, sessions = open_database(url)
        try:
            yield run, sessions
        finally:
            engine.dispose()


def _password_ok(sessions, name: str, password: str) -> bool:
    with sessions.begin() as s:
        return auth.check_password(s, name, password) is not None


def test_password_stdin_line_endings_confirmation_and_blanks(review) -> None:
    run, sessions = review
    r = run("crlf", "crlf-pass-1\r\n")
    assert r.returncode == 0 and r.stdout == "created operator crlf\n", r.stderr
    assert _password_ok(sessions, "crlf", "crlf-pass-1") and not _password_ok(sessions, "crlf", "crlf-pass-1\r")
    # Normal runs (the database is migrated already) print nothing else: no Alembic lines.
    assert r.stderr == ""
    r = run("twice", "twice-pass-1\ntwice-pass-1\n")
    assert r.returncode == 0 and _password_ok(sessions, "twice", "twice-pass-1")
    r = run("typo", "typo-pass-1\ntypo-pass-2\n")
    assert r.returncode == 1 and "confirmation" in r.stderr and "differs" in r.stderr
    r = run("spaces", " " * 8 + "\n")
    assert r.returncode == 1 and "密码不能为空或全是空白" in r.stderr
    r = run("empty", "")
    assert r.returncode == 1 and "standard input is empty" in r.stderr
    r = run("ADMIN ", "admin-pass-1\n")
    assert r.returncode == 0 and r.stdout == "created operator admin\n"
    r = run("Admin", "admin-pass-2\n")
    assert r.returncode == 1 and "用户 'admin' 已存在" in r.stderr
    with sessions() as s:
        assert sorted(s.scalars(select(User.username))) == ["admin", "crlf", "twice"]


def test_every_command_has_its_room_and_the_readme_documents_password_stdin() -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert set(commands) == set(cli.ROOMS)
    assert "--password-stdin" in (REPO / "README.md").read_text(encoding="utf-8")


def test_migration_normalises_existing_user_names(review) -> None:
    from alembic import command
    from alembic.config import Config

    from xuncha.db.engine import MIGRATIONS, migrate

    _run, sessions = review
    with sessions.begin() as s:  # as created before names were normalised
        s.add_all([User(username=n, password_hash="x", role="operator") for n in ("Zhang", "ＬＩ ", "wang", "WANG")])
    engine = sessions.kw["bind"]
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    migrate(engine)
    with sessions() as s:
        assert sorted(s.scalars(select(User.username))) == ["WANG", "li", "wang", "zhang"]  # WANG: taken, kept
