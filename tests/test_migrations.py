"""The Alembic migrations build exactly the schema the models describe, and carry the data
of an existing database forward."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.schema import CreateIndex

from cdw.db import normalise_url
from cdw.migrate import upgrade
from cdw.models import all_models
from tests.conftest import PG_URL


def _sorted_indexes_compared_by_sql(conn, diff: list) -> list:
    """SQLite cannot reflect an index's column order (``severity DESC``): alembic reports such
    an index as removed and added again. Each of those pairs is compared here by the index's
    SQL as SQLite stored it against the model's, and left out of ``diff``."""
    removed = {d[1].name for d in diff if d[0] == "remove_index"}
    redone = {
        d[1].name: d[1]
        for d in diff
        if d[0] == "add_index" and d[1].name in removed and d[1].expressions
    }
    stored = dict(
        conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        ).all()
    )
    for name, index in redone.items():
        assert stored[name] == str(CreateIndex(index).compile(dialect=conn.dialect)).strip()
    return [d for d in diff if not (d[0] in ("remove_index", "add_index") and d[1].name in redone)]


def _assert_matches_models(url: str) -> None:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), all_models().metadata
            )
            if conn.dialect.name == "sqlite":
                diff = _sorted_indexes_compared_by_sql(conn, diff)
            tables = set(inspect(conn).get_table_names())
            flag_indexes = {i["name"] for i in inspect(conn).get_indexes("flag")}
    finally:
        engine.dispose()
    assert not diff, f"models and migrations differ: {diff}"
    assert {"construction_site", "vehicle", "permit", "flag", "app_user"} <= tables
    # The flag lists' indexes (issue 15), whichever way the dialect reflects them.
    assert {"ix_flag_rank", "ix_flag_status_rank", "ix_flag_code_day"} <= flag_indexes


def test_upgrade_builds_the_model_schema_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(url)
    _assert_matches_models(url)
    upgrade(url)  # a second upgrade is a no-op


@contextmanager
def _pg_schema() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL schema, dropped afterwards."""
    if not PG_URL:
        pytest.skip("PostgreSQL leg skipped: CDW_TEST_DATABASE_URL is not set")
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalise_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_upgrade_builds_the_model_schema_on_postgresql():
    with _pg_schema() as url:
        upgrade(url)
        _assert_matches_models(url)


FENCE = '{"type": "Polygon", "coordinates": [[[113.58, 23.55], [113.59, 23.55], [113.59, 23.56], [113.58, 23.55]]]}'
NOW = "2026-11-20 08:00:00+00:00"
STAMPS = {"status": "active", "created_at": NOW, "updated_at": NOW}
ROWS_BEFORE_CODES = {  # one database as the initial schema held it: names repeat
    "haulier": [
        dict(id=1, name="运输公司", credit_code="91440117MA59C3TK22", licence_no="L1",
             licence_valid_until="2030-01-01", credit_score=100, **STAMPS),
    ],
    "construction_site": [
        dict(id=i, name="同名工地", address="", project_permit_no="P", builder="B",
             contractor="C", geofence=FENCE, expected_categories="[]", expected_volume_m3=1.0,
             **STAMPS)
        for i in (1, 2)
    ],
    "disposal_facility": [
        dict(id=7, name="消纳场", kind="landfill", address="", geofence=FENCE, capacity_m3=1.0,
             used_m3=0.0, accepted_categories='["excavated_soil"]', opening_hours="00:00-24:00",
             **STAMPS),
    ],
    "depot": [dict(id=3, haulier_id=1, name="停车场", address="", geofence=FENCE, **STAMPS)],
    "restricted_zone": [dict(id=12, name="禁区", kind="other", geofence=FENCE, **STAMPS)],
    "vehicle": [
        dict(id=1, plate="粤A12345", haulier_id=1, rated_capacity_m3=18.0, rated_load_t=31.0,
             sealed_body=False, inspection_valid_until="2030-01-01", **STAMPS),
    ],
}  # fmt: skip


def _upgrade_a_database_holding_records(url: str) -> None:
    upgrade(url, "adedb06c66e7")
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            for table, rows in ROWS_BEFORE_CODES.items():
                for row in rows:
                    names = ", ".join(row)
                    values = ", ".join(f":{k}" for k in row)
                    conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({values})"), row)
        upgrade(url)
        with engine.connect() as conn:
            codes = {
                table: conn.execute(text(f"SELECT id, code FROM {table} ORDER BY id")).all()
                for table in ("construction_site", "disposal_facility", "depot", "restricted_zone")
            }
            sensors = conn.execute(text("SELECT load_sensor FROM vehicle")).scalars().all()
            periods = conn.execute(
                text("SELECT vehicle_id, haulier_id, valid_to FROM vehicle_assignment")
            ).all()
    finally:
        engine.dispose()
    assert codes == {
        "construction_site": [(1, "S000001"), (2, "S000002")],
        "disposal_facility": [(7, "F000007")],
        "depot": [(3, "D000003")],
        "restricted_zone": [(12, "Z000012")],
    }
    assert sensors == [True]
    assert periods == [(1, 1, None)]  # one open period of the current haulier
    _assert_matches_models(url)


def test_existing_records_get_codes_and_a_load_sensor_on_sqlite(tmp_path):
    _upgrade_a_database_holding_records(f"sqlite:///{tmp_path / 'old.db'}")


def test_existing_records_get_codes_and_a_load_sensor_on_postgresql():
    with _pg_schema() as url:
        _upgrade_a_database_holding_records(url)
