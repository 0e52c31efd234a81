"""``cdw user …``: passwords by prompt or standard input only; every change audited."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

import cdw.db
from cdw.audit.log import history
from cdw.auth.models import User
from cdw.auth.security import verify_password
from cdw.cli import app as cli_app

PASSWORD = "Tr4ck-and-Trace"
NEW_PASSWORD = "Gravel-Lorry-77"


@pytest.fixture
def runner(engine, monkeypatch) -> CliRunner:
    monkeypatch.setattr(cdw.db, "get_engine", lambda: engine)
    return CliRunner()


def _flat(output: str) -> str:
    """The output with the console's line wrapping undone."""
    return " ".join(output.split())


def _user(engine, username="officer1") -> User:
    with Session(engine) as s:
        return s.exec(select(User).where(User.username == username)).one()


def _add(runner, *extra: str, stdin: str = f"{PASSWORD}\n"):
    args = ["user", "add", "officer1", "--role", "permit_officer", *extra]
    return runner.invoke(cli_app, args, input=stdin)


def test_the_password_is_not_taken_on_the_command_line(runner, engine):
    answer = _add(runner, "--password", PASSWORD)
    assert answer.exit_code == 2
    with Session(engine) as s:
        assert s.exec(select(User)).all() == []


def test_the_password_from_standard_input(runner, engine):
    answer = _add(runner, "--password-stdin")
    assert answer.exit_code == 0, answer.output
    assert PASSWORD not in answer.output
    user = _user(engine)
    assert verify_password(PASSWORD, user.hashed_password)
    with Session(engine) as s:
        (entry,) = history(s, "user", user.id)
    assert entry.action == "create" and entry.actor.startswith("cli:")


def test_the_password_by_hidden_prompt_asked_twice(runner, engine):
    answer = _add(runner, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert answer.exit_code == 0, answer.output
    assert PASSWORD not in answer.output
    assert verify_password(PASSWORD, _user(engine).hashed_password)


def test_a_weak_password_is_refused_in_both_languages(runner, engine):
    answer = _add(runner, "--password-stdin", stdin="12345678\n")
    assert answer.exit_code == 1
    assert "最常见" in answer.output and "most common" in _flat(answer.output)


def test_disable_enable_set_role_reset_password(runner, engine):
    assert _add(runner, "--password-stdin").exit_code == 0
    steps = [
        (["user", "disable", "officer1", "--reason", "left"], None),
        (["user", "enable", "officer1"], None),
        (["user", "set-role", "officer1", "--role", "viewer"], None),
        (["user", "reset-password", "officer1", "--password-stdin"], f"{NEW_PASSWORD}\n"),
    ]
    for args, stdin in steps:
        answer = runner.invoke(cli_app, args, input=stdin)
        assert answer.exit_code == 0, answer.output
    user = _user(engine)
    assert user.role == "viewer" and user.is_active
    assert verify_password(NEW_PASSWORD, user.hashed_password)
    assert user.token_version == 3  # disable, role change, password reset
    with Session(engine) as s:
        actions = [e.action for e in history(s, "user", user.id)]
    assert actions == ["create", "disable", "enable", "change_role", "reset_password"]
    missing = runner.invoke(cli_app, ["user", "disable", "nobody"])
    assert missing.exit_code == 1 and "nobody" in missing.output


def test_serve_refuses_the_public_default_key(monkeypatch, tmp_path):
    import uvicorn

    from cdw.config import get_settings

    monkeypatch.setenv("CDW_SECRET_KEY", "change-me-in-production-cdw-secret-key")
    monkeypatch.delenv("CDW_ENV", raising=False)
    monkeypatch.setattr(uvicorn, "run", pytest.fail)
    get_settings.cache_clear()
    try:
        answer = CliRunner().invoke(cli_app, ["serve"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert answer.exit_code == 1
    assert "公开的默认值" in answer.output and "public default" in _flat(answer.output)


def test_db_upgrade_makes_the_key_file(monkeypatch, tmp_path):
    from cdw.config import get_settings

    monkeypatch.setenv("CDW_DATABASE_URL", f"sqlite:///{tmp_path / 'cdw.db'}")
    monkeypatch.setenv("CDW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CDW_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    try:
        answer = CliRunner().invoke(cli_app, ["db", "upgrade"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert answer.exit_code == 0, answer.output
    key = tmp_path / "data" / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert "secret.key" in "".join(answer.output.split())
