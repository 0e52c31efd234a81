"""The hash-chained audit log: appends, verification, tampering, concurrent writers."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlmodel import Session, select
from typer.testing import CliRunner

import cdw.db
from cdw.audit.log import (
    GENESIS_HASH,
    SYSTEM_ROLE,
    audit,
    chain_head,
    entry_hash,
    history,
    verify_chain,
)
from cdw.audit.models import AuditEntry
from cdw.auth.models import Role, User
from cdw.cli import app as cli_app


def _write(session: Session, n: int) -> None:
    for i in range(1, n + 1):
        audit(
            session,
            actor="job",
            entity="flag",
            entity_id=i,
            action="dismiss",
            reason=f"原因 {i}",
            data={"i": i},
        )
    session.commit()


def _kinds(problems) -> list[tuple[str, int]]:
    return [(p.field, p.line) for p in problems]


def test_entries_are_numbered_and_chained(session):
    officer = User(username="officer1", role=Role.enforcement_officer, hashed_password="!")
    session.add(officer)
    session.commit()
    first = audit(
        session,
        actor=officer,
        entity="case",
        entity_id=7,
        action="open",
        data={"when": date(2026, 11, 20), "at": datetime(2026, 11, 20, 1, 2, tzinfo=UTC)},
    )
    second = audit(session, actor="officer1", entity="case", entity_id="7", action="decide")
    third = audit(session, actor="nightly-job", entity="flag", entity_id=1, action="close")
    session.commit()

    assert (first.id, second.id, third.id) == (1, 2, 3)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert (first.actor, first.actor_role) == ("officer1", "enforcement_officer")
    assert second.actor_role == "enforcement_officer"  # looked up from the username
    assert third.actor_role == SYSTEM_ROLE
    assert first.data == {"when": "2026-11-20", "at": "2026-11-20 01:02:00+00:00"}
    assert [e.action for e in history(session, "case", 7)] == ["open", "decide"]

    session.expire_all()  # read back from the database: the hash still matches
    stored = session.get(AuditEntry, 1)
    assert entry_hash(stored) == stored.hash
    assert verify_chain(session) == []
    assert chain_head(session).entries == 3 and chain_head(session).head_hash == third.hash


def test_an_edited_and_a_deleted_row_are_reported_exactly(session):
    _write(session, 8)
    session.execute(text("UPDATE audit_log SET reason = '已篡改' WHERE id = 3"))
    session.execute(text("DELETE FROM audit_log WHERE id = 6"))
    session.commit()
    session.expire_all()

    problems = verify_chain(session)
    assert _kinds(problems) == [("edited", 3), ("deleted", 6)]
    assert "#3" in problems[0].zh and "edited" in problems[0].en
    assert "#6" in problems[1].zh and "deleted" in problems[1].en


def test_a_data_edit_and_a_recomputed_hash_are_caught(session):
    _write(session, 4)
    row = session.get(AuditEntry, 2)
    session.execute(text("UPDATE audit_log SET data = '{\"i\": 99}' WHERE id = 2"))
    session.commit()
    session.expire_all()
    assert _kinds(verify_chain(session)) == [("edited", 2)]

    # The forger recomputes entry 2's hash: entry 3 no longer follows it.
    row = session.get(AuditEntry, 2)
    forged = entry_hash(row)
    session.execute(text("UPDATE audit_log SET hash = :h WHERE id = 2"), {"h": forged})
    session.commit()
    session.expire_all()
    assert _kinds(verify_chain(session)) == [("relinked", 3)]


def test_swapped_entries_are_reported_as_reordered(session):
    _write(session, 5)
    columns = ("at", "actor", "entity_id", "reason", "data", "prev_hash", "hash")
    select_row = text(f"SELECT {', '.join(columns)} FROM audit_log WHERE id = :id")
    row2 = session.execute(select_row, {"id": 2}).one()._asdict()
    row4 = session.execute(select_row, {"id": 4}).one()._asdict()
    assign = ", ".join(f"{c} = :{c}" for c in columns)
    # free the unique hashes first, then give each row the other's content
    session.execute(
        text(
            "UPDATE audit_log SET hash = 'g' || id || substr(hash, 3), prev_hash = 'g' || id || substr(prev_hash, 3)"
            " WHERE id IN (2, 4)"
        )
    )
    for target, content in ((2, row4), (4, row2)):
        data = content["data"]  # SQLite hands back the JSON text, PostgreSQL a dict
        params = {
            **content,
            "data": data if isinstance(data, str) else json.dumps(data),
            "id": target,
        }
        session.execute(text(f"UPDATE audit_log SET {assign} WHERE id = :id"), params)
    session.commit()
    session.expire_all()
    assert _kinds(verify_chain(session)) == [("reordered", 2), ("reordered", 4)]


def test_concurrent_writers_never_fork_the_chain(engine):
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(10):
                with Session(engine) as s:
                    audit(s, actor=name, entity="flag", entity_id=i, action="warn")
                    s.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(engine) as s:
        ids = s.exec(select(AuditEntry.id).order_by(AuditEntry.id)).all()
        assert ids == list(range(1, 41))
        assert verify_chain(s) == []


def test_cli_verify_reports_a_tampered_row(engine, monkeypatch):
    monkeypatch.setattr(cdw.db, "get_engine", lambda: engine)
    with Session(engine) as s:
        _write(s, 3)
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "audit chain intact: 3 entries" in ok.output

    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE id = 2"))
    broken = runner.invoke(cli_app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "audit_log:2 [edited]" in broken.output
    assert "审计记录 #2 的内容被修改" in broken.output
    assert "#1" not in broken.output and "#3" not in broken.output
