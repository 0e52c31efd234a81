"""flag counts and covering list indexes

Flags counted per (status, code, day) in ``flag_count``, kept by triggers on ``flag`` in the
transaction of every write (cdw.flags.counts), so that the flag lists' exact totals over a
year of a city's flags are a sum over a few thousand cells instead of a COUNT over millions
of rows. Built here from the flags the database already holds. The trigger statements are
copied from cdw.flags.counts as they were at this revision (a migration does not change
when the application does). The code-day and vehicle indexes of d8b3f6a1c925 are rebuilt
holding the lists' order too.

Revision ID: e5a1c7f3b2d9
Revises: d8b3f6a1c925
Create Date: 2026-12-07 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "e5a1c7f3b2d9"
down_revision: str | None = "d8b3f6a1c925"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "status, code, day"
UPSERT = f"ON CONFLICT ({KEY}) DO UPDATE SET n = flag_count.n + excluded.n"

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER flag_count_insert AFTER INSERT ON flag BEGIN
  INSERT INTO flag_count ({KEY}, n) VALUES (NEW.status, NEW.code, NEW.day, 1) {UPSERT};
END""",
    f"""CREATE TRIGGER flag_count_delete AFTER DELETE ON flag BEGIN
  INSERT INTO flag_count ({KEY}, n) VALUES (OLD.status, OLD.code, OLD.day, -1) {UPSERT};
END""",
    f"""CREATE TRIGGER flag_count_update AFTER UPDATE OF {KEY} ON flag
WHEN OLD.status IS NOT NEW.status OR OLD.code IS NOT NEW.code OR OLD.day IS NOT NEW.day BEGIN
  INSERT INTO flag_count ({KEY}, n) VALUES (OLD.status, OLD.code, OLD.day, -1) {UPSERT};
  INSERT INTO flag_count ({KEY}, n) VALUES (NEW.status, NEW.code, NEW.day, 1) {UPSERT};
END""",
)


def _pg_function(name: str, rows: str) -> str:
    return f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO flag_count ({KEY}, n)
  SELECT {KEY}, sum(n) FROM ({rows}) AS change
  GROUP BY {KEY} HAVING sum(n) <> 0 ORDER BY {KEY}
  {UPSERT};
  RETURN NULL;
END $$"""


POSTGRESQL_TRIGGERS = (
    _pg_function("flag_count_added", f"SELECT {KEY}, 1 AS n FROM added"),
    _pg_function("flag_count_removed", f"SELECT {KEY}, -1 AS n FROM removed"),
    _pg_function(
        "flag_count_changed",
        f"SELECT {KEY}, -1 AS n FROM removed UNION ALL SELECT {KEY}, 1 FROM added",
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
    "CREATE TRIGGER flag_count_update AFTER UPDATE ON flag"
    " REFERENCING OLD TABLE AS removed NEW TABLE AS added"
    " FOR EACH STATEMENT EXECUTE FUNCTION flag_count_changed()",
    "CREATE TRIGGER flag_count_truncate AFTER TRUNCATE ON flag"
    " FOR EACH STATEMENT EXECUTE FUNCTION flag_count_emptied()",
)
TRIGGER_NAMES = (
    "flag_count_insert",
    "flag_count_delete",
    "flag_count_update",
    "flag_count_truncate",
)
PG_FUNCTIONS = (
    "flag_count_added",
    "flag_count_removed",
    "flag_count_changed",
    "flag_count_emptied",
)


# The code-day and vehicle indexes also hold the lists' order (severity, start, id), so that
# a page of one code's or one haulier's flags is ranked from the index alone.
INDEXES = {
    "ix_flag_code_day": (
        ["code", "day", "severity"],
        ["code", "day", "severity", "start_ts", "id"],
    ),
    "ix_flag_vehicle_start": (["vehicle", "start_ts"], ["vehicle", "start_ts", "severity", "id"]),
}


def upgrade() -> None:
    for name, (_, columns) in INDEXES.items():
        op.drop_index(name, table_name="flag")
        op.create_index(name, "flag", columns)
    op.create_table(
        "flag_count",
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column(
            "code",
            sa.Enum(
                "ROUTE_DEVIATION", "LONG_STOP", "SUSPECTED_DUMPING", "WRONG_DESTINATION",
                "SPEEDING", "OUT_OF_HOURS", "RESTRICTED_ZONE", "SIGNAL_GAP", "TAMPER_SUSPECTED",
                "NO_RECEIPT", "UNMANIFESTED_TRIP", "RECEIPT_WITHOUT_TRIP", "QUANTITY_DISCREPANCY",
                "OVERLOAD", "UNAUTHORISED_VEHICLE", name="flagcode", native_enum=False, length=32,
            ),
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("status", "code", "day"),
    )  # fmt: skip
    # Counted and triggered in this one transaction (on PostgreSQL a flag written meanwhile
    # waits for it: ``flag`` is locked first), so no write falls between the two.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("LOCK TABLE flag IN SHARE ROW EXCLUSIVE MODE")
    op.execute(f"INSERT INTO flag_count ({KEY}, n) SELECT {KEY}, count(*) FROM flag GROUP BY {KEY}")
    for statement in POSTGRESQL_TRIGGERS if bind.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON flag" if postgresql else ""))
    if postgresql:
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("flag_count")
    for name, (columns, _) in INDEXES.items():
        op.drop_index(name, table_name="flag")
        op.create_index(name, "flag", columns)
