"""Log-in throttling per account and per address, equal work for unknown users, bounded
hashing (cdw.auth.login)."""

from __future__ import annotations

import threading
import time

import anyio
import pytest
from sqlmodel import Session

from cdw.auth import security
from cdw.auth.login import LoginGuard, TooManyAttempts
from cdw.auth.models import Role, User
from cdw.config import Settings

PASSWORD = "Tr4ck-and-Trace"


@pytest.fixture
def officer(engine) -> None:
    with Session(engine) as s:
        s.add(
            User(
                username="officer1",
                role=Role.permit_officer,
                hashed_password=security.hash_password(PASSWORD),
            )
        )
        s.commit()


@pytest.fixture
def guard(client) -> LoginGuard:
    """The app's guard, with small limits: 3 per account, 5 per address."""
    settings = Settings(login_failures_per_account=3, login_failures_per_address=5)
    client.app.state.login_guard = LoginGuard(settings)
    return client.app.state.login_guard


def _login(client, username="officer1", password=PASSWORD):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_an_account_is_locked_after_repeated_failures_even_for_the_right_password(
    client, officer, guard
):
    for _ in range(3):
        assert _login(client, password="wrong-guess").status_code == 401
    locked = _login(client)
    assert locked.status_code == 429
    assert locked.json()["message_zh"] == "登录失败次数过多，请稍后再试"
    assert locked.json()["message_en"] == "Too many failed log-ins; try again later"
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    assert _login(client, username="OFFICER1").status_code == 429  # same account, any case


def test_an_address_is_locked_after_failures_on_many_accounts(client, officer, guard):
    for n in range(5):
        assert _login(client, username=f"guess{n}").status_code == 401
    assert _login(client).status_code == 429


def test_a_success_clears_the_accounts_count(client, officer, guard):
    for _ in range(2):
        _login(client, password="wrong-guess")
    assert _login(client).status_code == 200
    for _ in range(2):
        _login(client, password="wrong-guess")
    assert _login(client).status_code == 200


def test_the_lockout_ends_after_its_time():
    now = [0.0]
    settings = Settings(
        login_failures_per_account=2, login_failure_window_s=60, login_lockout_s=300
    )
    guard = LoginGuard(settings, clock=lambda: now[0])
    guard.begin("u", "a")
    now[0] = 61.0  # the first failure has left the window
    guard.begin("u", "a")
    now[0] = 62.0
    guard.begin("u", "a")
    with pytest.raises(TooManyAttempts) as refused:
        guard.begin("u", "a")
    assert refused.value.retry_after_s == 300
    now[0] = 362.0
    guard.begin("u", "a")


def test_attempts_in_flight_count_against_the_limit():
    guard = LoginGuard(Settings(login_failures_per_address=3))
    started = [guard.begin(f"user{n}", "10.0.0.9") for n in range(3)]
    with pytest.raises(TooManyAttempts):
        guard.begin("user9", "10.0.0.9")
    guard.succeeded(started[0])  # one of them had the right password
    guard.begin("user9", "10.0.0.9")


@pytest.mark.parametrize("case", ["unknown", "disabled", "known"])
def test_every_log_in_does_one_hash_verification(client, engine, officer, monkeypatch, case):
    if case == "disabled":
        with Session(engine) as s:
            user = s.get(User, 1)
            user.is_active = False
            s.add(user)
            s.commit()
    verified: list[str] = []
    real = security.verify_password

    def counting(password: str, hashed: str) -> bool:
        verified.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(security, "verify_password", counting)
    username = "nobody" if case == "unknown" else "officer1"
    assert _login(client, username=username, password="wrong-guess").status_code == 401
    assert len(verified) == 1
    assert verified[0].startswith("$argon2")
    assert (verified[0] == security.dummy_hash()) == (case != "known")


def test_an_over_long_password_is_refused_without_hashing(client, officer, monkeypatch):
    monkeypatch.setattr(security, "verify_password", pytest.fail)
    assert _login(client, password="x" * 10_000).status_code == 401


def _slow_verify(active: list[int], peak: list[int], lock: threading.Lock):
    def verify(password: str, hashed: str) -> bool:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return False

    return verify


def test_hashing_runs_at_most_the_configured_number_at_once(monkeypatch):
    active, peak, lock = [0], [0], threading.Lock()
    monkeypatch.setattr(security, "verify_password", _slow_verify(active, peak, lock))
    guard = LoginGuard(Settings(password_hash_concurrency=2, password_hash_queue=100))

    async def flood():
        async with anyio.create_task_group() as tasks:
            for _ in range(12):
                tasks.start_soon(guard.verify, "guess", None)

    anyio.run(flood)
    assert peak[0] == 2


def test_log_ins_beyond_the_queue_are_refused_at_once(monkeypatch):
    active, peak, lock = [0], [0], threading.Lock()
    monkeypatch.setattr(security, "verify_password", _slow_verify(active, peak, lock))
    guard = LoginGuard(Settings(password_hash_concurrency=1, password_hash_queue=2))
    refused: list[TooManyAttempts] = []

    async def attempt():
        try:
            await guard.verify("guess", None)
        except TooManyAttempts as exc:
            refused.append(exc)

    async def flood():
        async with anyio.create_task_group() as tasks:
            for _ in range(10):
                tasks.start_soon(attempt)

    anyio.run(flood)
    assert len(refused) == 7  # one hashing, two waiting
    assert refused[0].retry_after_s == 1
