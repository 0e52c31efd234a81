"""Flags counted per (status, code, day): the exact totals of the flag lists without a COUNT
over a year of flags.

The counts are derived data kept by the database itself: triggers on the ``flag`` table add
and subtract in the transaction of every statement that inserts, deletes or changes the
status, code or day of a flag, whoever writes it (``replace_flags``, the live engine, a
review, a case, a bulk load), with an ``INSERT … ON CONFLICT DO UPDATE SET n = n +
excluded.n`` that concurrent writers cannot lose. PostgreSQL counts a statement's rows once
(statement triggers over its transition tables, cells in key order so writers lock them in
one order); SQLite per row. A cell may fall to 0 and stay: a sum does not see it.

The migration (revision e5a1c7f3b2d9) builds the counts of an existing database; ``create_all``
installs the same triggers (tests, fresh databases).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Table, event, func
from sqlmodel import Field, Session, SQLModel, col, select

from cdw.db import plain_enum
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord


class FlagCount(SQLModel, table=True):
    """How many flags have this status, code and day (maintained by triggers on ``flag``)."""

    __tablename__ = "flag_count"

    status: str = Field(primary_key=True, max_length=24)
    code: FlagCode = Field(primary_key=True, sa_type=plain_enum(FlagCode, 32))
    day: date = Field(primary_key=True)
    n: int


_KEY = "status, code, day"
_UPSERT = f"ON CONFLICT ({_KEY}) DO UPDATE SET n = flag_count.n + excluded.n"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER flag_count_insert AFTER INSERT ON flag BEGIN
  INSERT INTO flag_count ({_KEY}, n) VALUES (NEW.status, NEW.code, NEW.day, 1) {_UPSERT};
END""",
    f"""CREATE TRIGGER flag_count_delete AFTER DELETE ON flag BEGIN
  INSERT INTO flag_count ({_KEY}, n) VALUES (OLD.status, OLD.code, OLD.day, -1) {_UPSERT};
END""",
    f"""CREATE TRIGGER flag_count_update AFTER UPDATE OF {_KEY} ON flag
WHEN OLD.status IS NOT NEW.status OR OLD.code IS NOT NEW.code OR OLD.day IS NOT NEW.day BEGIN
  INSERT INTO flag_count ({_KEY}, n) VALUES (OLD.status, OLD.code, OLD.day, -1) {_UPSERT};
  INSERT INTO flag_count ({_KEY}, n) VALUES (NEW.status, NEW.code, NEW.day, 1) {_UPSERT};
END""",
)


def _pg_function(name: str, rows: str) -> str:
    """A trigger function adding ``rows`` (a query of status, code, day, n) to the counts."""
    return f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO flag_count ({_KEY}, n)
  SELECT {_KEY}, sum(n) FROM ({rows}) AS change
  GROUP BY {_KEY} HAVING sum(n) <> 0 ORDER BY {_KEY}
  {_UPSERT};
  RETURN NULL;
END $$"""


POSTGRESQL_TRIGGERS = (
    _pg_function("flag_count_added", f"SELECT {_KEY}, 1 AS n FROM added"),
    _pg_function("flag_count_removed", f"SELECT {_KEY}, -1 AS n FROM removed"),
    _pg_function(
        "flag_count_changed",
        f"SELECT {_KEY}, -1 AS n FROM removed UNION ALL SELECT {_KEY}, 1 FROM added",
    ),
    """CREATE FUNCTION flag_count_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM flag_count;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER flag_count_insert AFTER INSERT ON flag REFERENCING NEW TABLE AS added"
    " FOR EACH STATEMENT EXECUTE FUNCTION flag_count_added()",
    "CREATE TRIGGER flag_count_delete AFTER DELETE ON flag REFERENCING OLD TABLE AS removed"
    " FOR EACH STATEMENT EXECUTE FUNCTION flag_count_removed()",
    # (PostgreSQL allows no column list with transition tables: every UPDATE statement
    # runs it, and a change that moves no flag between cells sums to nothing.)
    "CREATE TRIGGER flag_count_update AFTER UPDATE ON flag"
    " REFERENCING OLD TABLE AS removed NEW TABLE AS added"
    " FOR EACH STATEMENT EXECUTE FUNCTION flag_count_changed()",
    "CREATE TRIGGER flag_count_truncate AFTER TRUNCATE ON flag"
    " FOR EACH STATEMENT EXECUTE FUNCTION flag_count_emptied()",
)

TRIGGERS = {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRESQL_TRIGGERS}

# Built by the migration from the rows a database already holds.
BUILD = f"INSERT INTO flag_count ({_KEY}, n) SELECT {_KEY}, count(*) FROM flag GROUP BY {_KEY}"

count_table: Table = FlagCount.__table__  # type: ignore[attr-defined]
count_table.add_is_dependent_on(FlagRecord.__table__)  # type: ignore[attr-defined]


@event.listens_for(count_table, "after_create")
def _install_triggers(_table: Table, connection: Connection, **_: object) -> None:
    for statement in TRIGGERS[connection.dialect.name]:
        connection.exec_driver_sql(statement)


def counted(
    session: Session,
    *,
    status: str | None = None,
    code: FlagCode | None = None,
    day_from: date | None = None,
    day_to: date | None = None,
) -> int:
    """The exact number of flags with this status and code (None: any) on these days."""
    stmt = select(func.coalesce(func.sum(FlagCount.n), 0))
    if status is not None:
        stmt = stmt.where(FlagCount.status == status)
    if code is not None:
        stmt = stmt.where(FlagCount.code == code)
    if day_from is not None:
        stmt = stmt.where(FlagCount.day >= day_from)
    if day_to is not None:
        stmt = stmt.where(FlagCount.day <= day_to)
    return int(session.exec(stmt).one())


def per_code(session: Session, day_from: date, day_to: date) -> dict[str, int]:
    """Flags of every status per code over ``day_from..day_to``, codes with none left out."""
    rows = session.exec(
        select(FlagCount.code, func.sum(FlagCount.n))
        .where(FlagCount.day >= day_from, FlagCount.day <= day_to)
        .group_by(col(FlagCount.code))
    ).all()
    return {str(code): int(n) for code, n in rows if n}


def per_day_and_code(session: Session, day_from: date, day_to: date) -> dict[tuple[date, str], int]:
    """Flags of every status per (day, code) over ``day_from..day_to``, cells of 0 left out."""
    rows = session.exec(
        select(FlagCount.day, FlagCount.code, func.sum(FlagCount.n))
        .where(FlagCount.day >= day_from, FlagCount.day <= day_to)
        .group_by(col(FlagCount.day), col(FlagCount.code))
    ).all()
    return {(day, str(code)): int(n) for day, code, n in rows if n}
