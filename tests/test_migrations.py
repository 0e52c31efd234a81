"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from cdw.db import all_models, normalise_url
from cdw.migrate import upgrade
from tests.conftest import PG_URL


def _assert_matches_models(url: str) -> None:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), all_models().metadata
            )
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert not diff, f"models and migrations differ: {diff}"
    assert {"construction_site", "vehicle", "permit", "flag", "app_user"} <= tables


def test_upgrade_builds_the_model_schema_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(url)
    _assert_matches_models(url)
    upgrade(url)  # a second upgrade is a no-op


def test_upgrade_builds_the_model_schema_on_postgresql():
    if not PG_URL:
        pytest.skip("PostgreSQL leg skipped: CDW_TEST_DATABASE_URL is not set")
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalise_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        _assert_matches_models(url)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
