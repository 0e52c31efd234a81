"""The keyed audit chain (issue 13, finding 13): an edit re-hashed without the key is caught,
the key lives outside the database, plain entries from before keying verify only as the
oldest part of the chain, and an anchored head shows removed newest entries."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, col, select
from typer.testing import CliRunner

import cdw.db
from cdw.audit.key import KEY_FILE, AuditKeyMissing, audit_key
from cdw.audit.log import KEYED, PLAIN, audit, chain_head, entry_hash, verify_anchor, verify_chain
from cdw.audit.models import AuditEntry
from cdw.cli import app as cli_app
from cdw.config import Settings
from cdw.db import normalise_url
from cdw.migrate import upgrade


def _write(session: Session, n: int) -> None:
    for i in range(1, n + 1):
        audit(session, actor="job", entity="flag", entity_id=i, action="dismiss", data={"i": i})
    session.commit()


def _kinds(problems) -> list[tuple[str, int]]:
    return [(p.field, p.line) for p in problems]


def _plain_sha256(row: AuditEntry) -> str:
    """What a forger without the key can compute: SHA-256 of the entry's canonical JSON."""
    return entry_hash(row.model_copy(update={"scheme": PLAIN}))


def _rehash_from(session: Session, first: int, scheme: str) -> None:
    """Recompute every hash from entry ``first`` on as a forger without the key would."""
    entries = session.exec(
        select(AuditEntry).where(col(AuditEntry.id) >= first).order_by(col(AuditEntry.id))
    ).all()
    prev = session.get(AuditEntry, first - 1).hash
    for row in entries:
        row.prev_hash, row.scheme = prev, scheme
        forged = _plain_sha256(row)
        session.execute(
            text("UPDATE audit_log SET prev_hash = :p, hash = :h, scheme = :s WHERE id = :id"),
            {"p": prev, "h": forged, "s": scheme, "id": row.id},
        )
        prev = forged
    session.commit()
    session.expire_all()


@pytest.mark.parametrize("scheme", [KEYED, PLAIN])
def test_an_edit_rehashed_without_the_key_is_caught_at_the_edited_entry(session, scheme):
    _write(session, 6)
    assert all(e.scheme == KEYED for e in session.exec(select(AuditEntry)))
    session.execute(text("UPDATE audit_log SET reason = '已篡改' WHERE id = 3"))
    session.commit()
    session.expire_all()
    _rehash_from(session, 3, scheme)
    problems = verify_chain(session)
    assert problems and problems[0].line == 3
    kind = "edited" if scheme == KEYED else "unkeyed"
    assert problems[0].field == kind
    assert "#3" in problems[0].zh and "#3" in problems[0].en


def test_the_hash_is_keyed_and_the_wrong_key_fails_every_entry(session):
    _write(session, 3)
    entry = session.get(AuditEntry, 1)
    assert entry.hash != _plain_sha256(entry)
    assert _kinds(verify_chain(session, key=b"k" * 32)) == [("edited", i) for i in (1, 2, 3)]
    assert verify_chain(session) == []


def test_the_key_file_is_made_once_owner_only_and_a_setting_wins(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(AuditKeyMissing):
        audit_key(settings, create=False)
    key = audit_key(settings)
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(key) == 64 and audit_key(settings, create=False) == key
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE]  # no partial file left
    assert audit_key(Settings(data_dir=tmp_path, audit_key="s" * 40)) == b"s" * 40
    with pytest.raises(ValueError, match="shorter than 32"):
        audit_key(Settings(data_dir=tmp_path, audit_key="short"))


def test_verifying_without_the_key_says_so(session, monkeypatch):
    _write(session, 2)
    monkeypatch.setattr(
        "cdw.audit.log.audit_key",
        lambda create=True: (_ for _ in ()).throw(AuditKeyMissing("无密钥 / no audit key")),
    )
    assert _kinds(verify_chain(session)) == [("no_key", 1)]


def test_an_anchored_head_shows_removed_newest_entries(session):
    _write(session, 5)
    head = chain_head(session)
    assert verify_anchor(session, head.head_id, head.head_hash) == []
    session.execute(text("DELETE FROM audit_log WHERE id >= 4"))
    session.commit()
    session.expire_all()
    assert verify_chain(session) == []  # a shorter chain is still consistent…
    assert _kinds(verify_anchor(session, head.head_id, head.head_hash)) == [("truncated", 5)]
    assert _kinds(verify_anchor(session, 2, head.head_hash)) == [("anchor_mismatch", 2)]


def test_cli_head_and_verify_with_the_anchor(engine, monkeypatch, tmp_path):
    monkeypatch.setattr(cdw.db, "get_engine", lambda: engine)
    with Session(engine) as s:
        _write(s, 3)
    runner = CliRunner()
    anchor = tmp_path / "head.json"
    shown = runner.invoke(cli_app, ["audit", "head", "--out", str(anchor)])
    assert shown.exit_code == 0, shown.output
    saved = json.loads(anchor.read_text(encoding="utf-8"))
    assert saved["id"] == 3 and saved["hash"] in shown.output.replace("\n", "")
    ok = runner.invoke(cli_app, ["audit", "verify", "--anchor", str(anchor)])
    assert ok.exit_code == 0, ok.output
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 3"))
    cut = runner.invoke(cli_app, ["audit", "verify", "--anchor", str(anchor)])
    assert cut.exit_code == 1 and "audit_log:3 [truncated]" in cut.output
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    refused = runner.invoke(cli_app, ["audit", "verify", "--anchor", str(bad)])
    assert refused.exit_code == 2 and "anchor" in refused.output


def _plain_entry(i: int, prev: str) -> dict:
    row = AuditEntry(
        id=i,
        at=datetime(2026, 11, 1, 8, i, tzinfo=UTC),
        actor="officer1",
        actor_role="enforcement_officer",
        entity="flag",
        entity_id=str(i),
        action="dismiss",
        reason=None,
        data={"i": i},
        scheme=PLAIN,
        prev_hash=prev,
        hash="",
    )
    row.hash = entry_hash(row)
    return row.model_dump()


def test_the_upgrade_keys_an_existing_chain_after_its_plain_entries(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "10609c7dcafe")
    engine = create_engine(normalise_url(url))
    prev, rows = "0" * 64, []
    for i in (1, 2, 3):
        rows.append(_plain_entry(i, prev))
        prev = rows[-1]["hash"]
    with engine.begin() as conn:
        for row in rows:  # written by the old code: no scheme column, plain SHA-256
            del row["scheme"]
            row["data"] = json.dumps(row["data"])
            conn.execute(
                text(
                    "INSERT INTO audit_log (id, at, actor, actor_role, entity, entity_id, action,"
                    " reason, data, prev_hash, hash) VALUES (:id, :at, :actor, :actor_role,"
                    " :entity, :entity_id, :action, :reason, :data, :prev_hash, :hash)"
                ),
                {**row, "at": row["at"].replace(tzinfo=None).isoformat(sep=" ")},
            )
    upgrade(url)
    with Session(engine) as session:
        entries = session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
        assert [e.scheme for e in entries] == [PLAIN, PLAIN, PLAIN, KEYED]
        assert (entries[3].action, entries[3].prev_hash) == ("keyed", entries[2].hash)
        assert verify_chain(session) == []
        audit(session, actor="officer1", entity="flag", entity_id=9, action="warn")
        session.commit()
        assert verify_chain(session) == []

        # A forger without the key drops the keyed entries, leaving a plain chain.
        session.execute(text("DELETE FROM audit_log WHERE id >= 4"))
        session.commit()
        session.expire_all()
        assert _kinds(verify_chain(session)) == [("unkeyed", 3)]
    engine.dispose()
