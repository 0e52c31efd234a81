"""The totals the flags page and the review queue answer are the exact number of flags the
filters match, whether they come from the flag counts (status, code, days) or from a COUNT
over the rows (a vehicle, a score, a haulier's scope)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from cdw.auth.models import Role
from cdw.enforcement.models import ReviewStatus
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.registry.services import transfer_vehicle
from tests.factories import add_haulier, add_vehicle, flag_record

# Flags of the days to come: a vehicle's first holding period opens when it is registered.
DAY = datetime.now(UTC).date() + timedelta(days=1)
PLATES = ("粤A12345", "粤B67890", "粤C00001")  # the first two held by the test's hauliers
CODES = (FlagCode.LONG_STOP, FlagCode.SPEEDING, FlagCode.SIGNAL_GAP)
STATUSES = ("open", "dismissed", "warned", "confirmed")


def _flags(seed: int = 3, n: int = 120) -> list[FlagRecord]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        day = DAY + timedelta(days=rng.randrange(4))
        at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC) + timedelta(minutes=i)
        code, severity, vehicle = rng.choice(CODES), rng.randrange(10, 96), rng.choice(PLATES)
        status = rng.choice(STATUSES)
        rows.append(flag_record(vehicle, at, code=code, severity=severity, status=status))
    return rows


TRANSFER = datetime(DAY.year, DAY.month, DAY.day, 2, 30, tzinfo=UTC) + timedelta(days=2)


@pytest.fixture
def hauliers(engine) -> tuple[int, int]:
    """Two hauliers holding the first two plates; the second plate passes from the second
    haulier to the first at ``TRANSFER`` (amid the flags' days)."""
    with Session(engine) as s:
        first, second = add_haulier(s, 1), add_haulier(s, 2)
        add_vehicle(s, first, 1, plate=PLATES[0])
        moved = add_vehicle(s, second, 2, plate=PLATES[1])
        transfer_vehicle(s, moved.id, first.id, at=TRANSFER)  # type: ignore[arg-type]
        s.commit()
        return first.id, second.id  # type: ignore[return-value]


@pytest.fixture
def stored(engine, hauliers) -> list[dict]:
    rows = _flags()
    with Session(engine) as s:
        s.add_all(rows)
        s.commit()
        return [r.model_dump() for r in s.exec(select(FlagRecord))]


FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "code": st.sampled_from([str(c) for c in CODES]),
        "status": st.sampled_from(STATUSES),
        "day_from": st.integers(0, 4),
        "day_to": st.integers(0, 4),
        "vehicle": st.sampled_from(PLATES),
        "min_severity": st.integers(0, 100),
    },
)


def _matches(row: dict, query: dict) -> bool:
    return (
        ("code" not in query or str(row["code"]) == query["code"])
        and ("status" not in query or row["status"] == query["status"])
        and ("day_from" not in query or row["day"] >= DAY + timedelta(days=query["day_from"]))
        and ("day_to" not in query or row["day"] <= DAY + timedelta(days=query["day_to"]))
        and ("vehicle" not in query or row["vehicle"] == query["vehicle"])
        and row["severity"] >= query.get("min_severity", 0)
    )


def _params(query: dict) -> dict:
    days = {k: str(DAY + timedelta(days=query[k])) for k in ("day_from", "day_to") if k in query}
    return {**query, **days, "limit": 1}


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=FILTERS)
def test_the_totals_are_the_exact_counts(client, auth_headers, stored, query):
    expected = sum(_matches(row, query) for row in stored)
    admin = auth_headers(Role.admin)
    assert client.get("/api/v1/flags", params=_params(query), headers=admin).json()["count"] == (
        expected
    )
    officer = auth_headers(Role.enforcement_officer)
    queued = {"status": str(ReviewStatus.open), **query}
    expected_queue = sum(_matches(row, queued) for row in stored)
    answer = client.get("/api/v1/enforcement/queue", params=_params(queued), headers=officer)
    assert answer.json()["count"] == expected_queue


def test_a_hauliers_total_counts_the_flags_of_its_holding_periods(
    client, auth_headers, stored, hauliers
):
    def held(row: dict, haulier: int) -> bool:
        if row["vehicle"] == PLATES[0]:
            return haulier == hauliers[0]
        if row["vehicle"] == PLATES[1]:
            start = row["start_ts"]  # SQLite hands back naive UTC
            before = (start if start.tzinfo else start.replace(tzinfo=UTC)) < TRANSFER
            return haulier == (hauliers[1] if before else hauliers[0])
        return False

    for haulier in hauliers:
        own = auth_headers(Role.haulier, haulier_id=haulier)
        answer = client.get("/api/v1/flags", params={"limit": 500}, headers=own).json()
        expected = sum(held(row, haulier) for row in stored)
        assert 0 < expected == answer["count"] == len(answer["data"])
        assert {f["id"] for f in answer["data"]} == {r["id"] for r in stored if held(r, haulier)}
