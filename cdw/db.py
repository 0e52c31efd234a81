"""Database engine and sessions (SQLite file by default, PostgreSQL via CDW_DATABASE_URL)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, Table, event, insert
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine

from cdw.config import get_settings


def plain_enum(enum: type[StrEnum], length: int = 32) -> SAEnum:
    """An enum column stored as VARCHAR holding the value (no PostgreSQL ENUM type to migrate)."""
    return SAEnum(
        enum, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


def json_text(value: Any) -> str:
    """A JSON column's text. A numpy array (a loaded leg's path: its thousands of floats are
    most of what an analysis run writes) by orjson, ten times json.dumps; its floats written
    shortest-round-trip as json.dumps writes them, so the text decodes to the very same
    doubles. Anything else, and an array holding NaN or an infinity (orjson writes null), by
    json.dumps."""
    if isinstance(value, np.ndarray) and np.isfinite(value).all():
        return orjson.dumps(np.ascontiguousarray(value), option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value)


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=json_text,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # enforce FKs, allow concurrent readers
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=json_text)


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine or get_engine()) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


WRITE_BATCH = 5_000  # rows per executemany where there is no COPY


def copy_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """PostgreSQL: write ``rows`` (dicts with the keys of the first) into ``table`` by one COPY,
    each value bound as an INSERT binds it (its column type's processing: enum values, JSON).
    One statement: the table's statement triggers fire once for all the rows. A failure
    raises SQLAlchemy's exception for it (IntegrityError, OperationalError, …), as an INSERT
    would."""
    dialect = connection.dialect
    names = list(rows[0])
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    quote = dialect.identifier_preparer
    statement = (
        f"COPY {quote.format_table(table)} ({', '.join(quote.quote(name) for name in names)})"
        " FROM STDIN"
    )
    error = dialect.loaded_dbapi.Error
    try:
        with (
            connection.connection.driver_connection.cursor() as cursor,
            cursor.copy(statement) as copy,
        ):
            for row in rows:
                copy.write_row(
                    [
                        value if process is None else process(value)
                        for value, process in zip(
                            map(row.__getitem__, names), processors, strict=True
                        )
                    ]
                )
    except error as exc:
        raise DBAPIError.instance(statement, None, exc, error) from exc


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) in the session's transaction in few
    statements: one COPY on PostgreSQL (where executemany sends a statement per row, each
    firing the table's statement triggers), executemany in batches of ``WRITE_BATCH`` else."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        copy_rows(session.connection(), table, rows)
        return
    for first in range(0, len(rows), WRITE_BATCH):
        session.execute(insert(table), rows[first : first + WRITE_BATCH])
