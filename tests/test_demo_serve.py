"""``cdw demo`` ends by serving the console unless ``--no-serve`` or ``CDW_DEMO_SERVE=0``:
tests and CI never block on a server (the run and the server are replaced by recorders)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cdw import demo as demo_module
from cdw.cli import app
from cdw.cli import demo as demo_cli


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    calls: dict[str, list] = {"run": [], "serve": []}
    monkeypatch.setattr(demo_module, "run_demo", lambda *a, **kw: calls["run"].append(a))
    monkeypatch.setattr(demo_cli, "serve_demo", lambda *a, **kw: calls["serve"].append(a))
    monkeypatch.delenv(demo_cli.SERVE_ENV, raising=False)
    return calls


@pytest.mark.parametrize(
    ("args", "env", "serves"),
    [
        ([], None, True),
        (["--no-serve"], None, False),
        ([], "0", False),
        ([], "false", False),
        (["--serve"], "0", True),  # the flag wins over the environment
        ([], "1", True),
    ],
)
def test_serving_follows_the_flag_then_the_environment(
    recorded, monkeypatch, tmp_path, args, env, serves
):
    if env is not None:
        monkeypatch.setenv(demo_cli.SERVE_ENV, env)
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path / "d"), *args])
    assert result.exit_code == 0, result.output
    assert len(recorded["run"]) == 1
    assert len(recorded["serve"]) == (1 if serves else 0)


def test_the_served_environment_points_at_the_demo(tmp_path):
    env = demo_cli.demo_environment(tmp_path / "demo", None)
    assert env["CDW_DATABASE_URL"] == f"sqlite:///{(tmp_path / 'demo' / 'cdw.db').resolve()}"
    assert env["CDW_DATA_DIR"] == str((tmp_path / "demo" / "data").resolve())
    assert env["CDW_ROAD_NETWORK"] == ""
