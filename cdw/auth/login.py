"""Log-in under load and attack: throttling, lockout, equal work, bounded hashing.

- **Throttling and lockout**: failed log-ins are counted per account and per client address
  in a sliding window (``login_failure_window_s``). When an account or an address reaches its
  limit, log-in from it is refused with 429 and ``Retry-After`` for ``login_lockout_s``,
  the right password included. An attempt counts as failed from its start, so attempts in
  flight at once count too; a success takes its own count back and clears the account's.
- **Equal work**: an unknown or disabled user's password is verified against a dummy hash,
  so the answer takes as long as for a real user and does not tell which usernames exist.
- **Bounded hashing**: one Argon2 verification takes 64 MiB. At most
  ``password_hash_concurrency`` run at once (an anyio capacity limiter: the others wait in
  the event loop and hold no worker thread, so the rest of the API keeps its threads), and at
  most ``password_hash_queue`` log-ins wait; past that the answer is 429 at once. Passwords
  longer than any allowed one are refused without hashing.

The counts live in the process (one :class:`LoginGuard` per application, made at start-up);
with several server processes each counts its own, which multiplies the limits by their
number but keeps them finite.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from anyio import CapacityLimiter

from cdw.auth import security
from cdw.auth.models import MAX_PASSWORD_LENGTH
from cdw.config import Settings
from cdw.errors import CdwError

# Past this many tracked keys, keys whose failures have all left the window are dropped.
PRUNE_ABOVE_KEYS = 10_000


class TooManyAttempts(CdwError):
    code = "too_many_requests"
    http_status = 429

    def __init__(self, zh: str, en: str, retry_after_s: float):
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(zh, en, retry_after_s=self.retry_after_s)


class FailureWindow:
    """Failures per key in a sliding window; a key that reaches ``limit`` is locked out."""

    def __init__(self, limit: int, window_s: float, lockout_s: float):
        self.limit, self.window_s, self.lockout_s = limit, window_s, lockout_s
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until ``key`` may try again, or None when it may now."""
        until = self._locked_until.get(key)
        if until is None:
            return None
        if now < until:
            return until - now
        del self._locked_until[key]
        self._failures.pop(key, None)
        return None

    def fail(self, key: str, now: float) -> None:
        failures = self._failures.setdefault(key, deque())
        failures.append(now)
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if len(failures) >= self.limit:
            self._locked_until[key] = now + self.lockout_s
        if len(self._failures) > PRUNE_ABOVE_KEYS:
            self._prune(now)

    def forget(self, key: str, at: float) -> None:
        """Take back the failure counted at ``at`` (the attempt succeeded)."""
        failures = self._failures.get(key)
        if failures is None or at not in failures:
            return
        failures.remove(at)
        if len(failures) < self.limit:
            self._locked_until.pop(key, None)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)
        self._locked_until.pop(key, None)

    def _prune(self, now: float) -> None:
        stale = [
            key
            for key, failures in self._failures.items()
            if failures[-1] <= now - self.window_s and key not in self._locked_until
        ]
        for key in stale:
            del self._failures[key]


@dataclass(frozen=True)
class Attempt:
    account: str
    address: str
    at: float


def _verify(password: str, hashed: str | None) -> bool:
    return security.verify_password(password, hashed or security.dummy_hash())


class LoginGuard:
    """The log-in state of one application (see the module docstring)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic):
        window, lockout = settings.login_failure_window_s, settings.login_lockout_s
        self.accounts = FailureWindow(settings.login_failures_per_account, window, lockout)
        self.addresses = FailureWindow(settings.login_failures_per_address, window, lockout)
        self.hash_slots = CapacityLimiter(settings.password_hash_concurrency)
        self.queue_limit = settings.password_hash_queue
        self.clock = clock
        self._waiting = 0

    @staticmethod
    def _account(username: str) -> str:
        return username.casefold()

    def begin(self, username: str, address: str) -> Attempt:
        """Refuse (:class:`TooManyAttempts`) when the account or the address is locked out;
        else count the attempt as failed until :meth:`succeeded` says otherwise, so that
        attempts in flight at once count against the limits too."""
        now = self.clock()
        account = self._account(username)
        waits = [
            wait
            for wait in (
                self.accounts.retry_after(account, now),
                self.addresses.retry_after(address, now),
            )
            if wait is not None
        ]
        if waits:
            raise TooManyAttempts(
                "登录失败次数过多，请稍后再试",
                "Too many failed log-ins; try again later",
                max(waits),
            )
        self.accounts.fail(account, now)
        self.addresses.fail(address, now)
        return Attempt(account, address, now)

    def withdraw(self, attempt: Attempt) -> None:
        """Take back the attempt's count (it was not tried: the hash queue was full)."""
        self.accounts.forget(attempt.account, attempt.at)
        self.addresses.forget(attempt.address, attempt.at)

    def succeeded(self, attempt: Attempt) -> None:
        self.withdraw(attempt)
        self.accounts.clear(attempt.account)

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Whether ``password`` matches ``hashed``; with no hash (unknown or disabled user)
        the same work is done against a dummy hash and the answer is False."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        if self._waiting >= self.queue_limit + self.hash_slots.total_tokens:
            raise TooManyAttempts(
                "登录请求过多，请稍后再试", "Too many log-ins at once; try again shortly", 1
            )
        self._waiting += 1
        try:
            matches = await anyio.to_thread.run_sync(
                _verify, password, hashed, limiter=self.hash_slots
            )
        finally:
            self._waiting -= 1
        return matches and hashed is not None
