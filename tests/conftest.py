"""Shared fixtures: every database test runs on SQLite and again on PostgreSQL.

PostgreSQL is used when CDW_TEST_DATABASE_URL is set (``.ci/run`` sets it when a server
answers); otherwise those test variants are skipped with the reason printed.

The schema is built once per session: SQLite tests each get a copy of a template file,
PostgreSQL tests share one database whose written tables are truncated between tests.

Under pytest-xdist (``make test`` runs ``-n``) each worker is a process of its own: its own
temporary directory, database file and data directory, and its own PostgreSQL database
``<name>_<worker>`` (e.g. ``cdw_test_gw0``) created next to the one CDW_TEST_DATABASE_URL
names; the demo test and the browser tests run together on one worker (group ``demo``),
which builds the demo day once (``demo_day``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="cdw-tests-"))
# Keep the suite away from a developer's ./var database and point store. xdist workers
# inherit the controller's environment: a default the controller set here is replaced by the
# worker's own, a value the developer set is kept.
_DEFAULTS = {
    "CDW_DATABASE_URL": f"sqlite:///{_TMP / 'default.db'}",
    "CDW_DATA_DIR": str(_TMP / "data"),
}
_SET_BY_TESTS = os.environ.get("CDW_TESTS_DEFAULTS_SET", "").split()
for _name, _value in _DEFAULTS.items():
    if _name not in os.environ or _name in _SET_BY_TESTS:
        os.environ[_name] = _value
        _SET_BY_TESTS.append(_name)
os.environ["CDW_TESTS_DEFAULTS_SET"] = " ".join(sorted(set(_SET_BY_TESTS)))
# xdist workers start with COLUMNS=80 and LINES=24 set, which a rich Console made at import
# (the CLI modules') keeps as its size: give them the terminal environment of the controller.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name, _value in json.loads(os.environ.get("CDW_TESTS_TERMINAL", "{}")).items():
        if _value is None:
            os.environ.pop(_name, None)
        else:
            os.environ[_name] = _value
else:
    os.environ["CDW_TESTS_TERMINAL"] = json.dumps(
        {n: os.environ.get(n) for n in ("COLUMNS", "LINES")}
    )

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from cdw.api.app import app  # noqa: E402
from cdw.api.deps import get_session  # noqa: E402
from cdw.auth.models import Role, User  # noqa: E402
from cdw.auth.security import create_access_token  # noqa: E402
from cdw.config import get_settings  # noqa: E402
from cdw.db import make_engine, normalise_url  # noqa: E402
from cdw.models import all_models  # noqa: E402

XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", … in a worker


def _worker_database_url(url: str | None, worker: str | None) -> str | None:
    """The worker's own database on the server of ``url`` (``url`` itself outside xdist)."""
    if not url or not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


# No timing asserts in tests: hypothesis's per-example deadline (200 ms) fails examples that a
# loaded machine or a second xdist worker slows down, so it is off for every test.
hypothesis_settings.register_profile("cdw", deadline=None)
hypothesis_settings.load_profile("cdw")

PG_URL = _worker_database_url(os.environ.get("CDW_TEST_DATABASE_URL"), XDIST_WORKER)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _create_worker_database(url: str) -> None:
    """Create the worker's database when missing, from the server's maintenance database."""
    target = make_url(normalise_url(url))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def pytest_configure(config: pytest.Config) -> None:
    if PG_URL and XDIST_WORKER:
        _create_worker_database(PG_URL)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The demo test and the browser tests share one demo day (``demo_day``), the browser
    tests one Chromium: keep them on one worker."""
    here = Path(__file__).resolve().parent
    for item in items:
        if item.path.is_relative_to(here / "web") or item.path == here / "test_demo.py":
            item.add_marker(pytest.mark.xdist_group("demo"))


def reset_schema(engine: Engine) -> None:
    """Drop and recreate every table of the application."""
    metadata = all_models().metadata
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        metadata.drop_all(engine)
    metadata.create_all(engine)


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    if not PG_URL:
        pytest.skip("PostgreSQL leg skipped: CDW_TEST_DATABASE_URL is not set")
    engine = make_engine(PG_URL)
    reset_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the empty schema, copied for each test."""
    path = tmp_path_factory.mktemp("schema") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    all_models().metadata.create_all(engine)
    engine.dispose()  # the last connection closed: the WAL is checkpointed into the file
    return path


def _empty_tables(engine: Engine) -> None:
    """Truncate the tables written to and restart every sequence used.

    TRUNCATE gives a table new files, so rows come back in insertion order as in a fresh
    database (DELETE leaves holes that later inserts may fill); truncating only the tables
    written to spares the file work for the rest, most of them on most tests.
    """
    tables = all_models().metadata.sorted_tables
    written = " UNION ALL ".join(
        f"SELECT '{t.name}' WHERE EXISTS (SELECT FROM \"{t.name}\")" for t in tables
    )
    with engine.begin() as conn:
        names = list(conn.execute(text(written)).scalars())
        if names:
            listed = ", ".join(f'"{name}"' for name in names)
            conn.execute(text(f"TRUNCATE {listed} RESTART IDENTITY CASCADE"))
        used = conn.execute(  # also those of inserts rolled back, which left no row
            text(
                "SELECT sequencename FROM pg_sequences"
                " WHERE schemaname = 'public' AND last_value IS NOT NULL"
            )
        ).scalars()
        for sequence in list(used):
            conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("pg_engine")
        _empty_tables(eng)
        yield eng


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    def _session() -> Iterator[Session]:
        with Session(engine) as s:
            yield s

    app.dependency_overrides[get_session] = _session
    with TestClient(app) as c:
        yield c
    app.dependency_overrides.pop(get_session, None)


@pytest.fixture
def auth_headers(engine: Engine) -> Callable[..., dict[str, str]]:
    """``auth_headers(role, facility_id=…)`` → Authorization header of a fresh user.

    Users are inserted directly with a placeholder hash: the password flow itself is
    tested in tests/api/test_auth.py.
    """
    made: dict[tuple, str] = {}

    def make(role: Role | str, **binding: int) -> dict[str, str]:
        role = Role(role)
        key = (role, tuple(sorted(binding.items())))
        if key not in made:
            suffix = "_".join(f"{k}{v}" for k, v in sorted(binding.items()))
            username = f"{role.value}_{suffix}" if suffix else role.value
            with Session(engine) as s:
                s.add(User(username=username, role=role, hashed_password="!", **binding))
                s.commit()
            made[key] = create_access_token(username, get_settings())
        return {"Authorization": f"Bearer {made[key]}"}

    return make


@dataclass(frozen=True)
class DemoDay:
    """``make demo``'s day built once: its folder (served by tests/web, which may change its
    database), and what the build itself gave, kept before anyone changed anything."""

    workdir: Path
    flags_json: str  # the flags file the demo wrote
    console_text: str  # what the demo printed
    pipeline_runs: int  # engine runs while it was built


@pytest.fixture(scope="session")
def demo_day(tmp_path_factory: pytest.TempPathFactory) -> DemoDay:
    from rich.console import Console

    from cdw.demo import DEFAULT_BUNDLE, run_demo
    from cdw.flows import partitioned

    if not DEFAULT_BUNDLE.is_dir():
        pytest.skip(f"sample bundle missing: {DEFAULT_BUNDLE}")
    runs = []
    run = partitioned.run_pipeline
    console = Console(record=True, width=160, file=io.StringIO())
    workdir = tmp_path_factory.mktemp("demo-day") / "demo"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(partitioned, "run_pipeline", lambda *a, **kw: runs.append(1) or run(*a, **kw))
        out = run_demo(DEFAULT_BUNDLE, workdir, console)
    return DemoDay(workdir, out.read_text(encoding="utf-8"), console.export_text(), len(runs))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA
