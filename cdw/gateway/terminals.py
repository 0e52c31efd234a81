"""Which vehicle a terminal belongs to, and the authentication code it is given.

A terminal is bound to a registered, active vehicle by its JT/T 808 terminal phone number
(``vehicle.terminal_id``; leading zeros of the BCD padding are ignored on both sides).

The authentication code handed out in the registration reply (0x8100) is an HMAC of the
terminal number under the installation's signing key: the same for every registration of
that terminal, checkable by any gateway process and after a restart without storing it.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cdw.registry.categories import RecordStatus
from cdw.registry.models import Vehicle
from cdw.tracking.io.jt808 import terminal_key

AUTH_CODE_LENGTH = 16


def auth_code(secret: str, terminal: str) -> str:
    mac = hmac.new(secret.encode(), b"jt808-auth:" + terminal_key(terminal).encode(), "sha256")
    return mac.hexdigest()[:AUTH_CODE_LENGTH].upper()


def check_auth_code(secret: str, terminal: str, code: str) -> bool:
    return hmac.compare_digest(auth_code(secret, terminal).encode(), code.strip().encode())


def load_terminals(engine: Engine) -> dict[str, str]:
    """terminal key → plate of every active vehicle with a terminal."""
    with Session(engine) as session:
        rows = session.exec(
            select(Vehicle.terminal_id, Vehicle.plate).where(
                col(Vehicle.terminal_id).is_not(None), Vehicle.status == RecordStatus.active
            )
        ).all()
    return {terminal_key(t): plate for t, plate in rows if t}


class TerminalDirectory:
    """terminal → plate, loaded from the registry and reloaded (at most every
    ``refresh_s``) when a terminal is not found, so a vehicle registered after the gateway
    started is found on its next attempt."""

    def __init__(self, loader: Callable[[], dict[str, str]], *, refresh_s: float = 5.0):
        self._loader = loader
        self.refresh_s = refresh_s
        self._map: dict[str, str] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    @classmethod
    def from_engine(cls, engine: Engine, **kwargs) -> TerminalDirectory:
        return cls(lambda: load_terminals(engine), **kwargs)

    def reload(self) -> None:
        fresh = self._loader()
        with self._lock:
            self._map = fresh
            self._loaded_at = time.monotonic()

    def cached(self, terminal: str) -> str | None:
        return self._map.get(terminal_key(terminal))

    def lookup(self, terminal: str) -> str | None:
        """The plate bound to ``terminal`` (reloading when it is unknown and the map is
        older than ``refresh_s``); None for an unknown terminal. Blocking: call it in a
        thread from asynchronous code."""
        plate = self.cached(terminal)
        if plate is None and time.monotonic() - self._loaded_at >= self.refresh_s:
            self.reload()
            plate = self.cached(terminal)
        return plate

    def __len__(self) -> int:
        return len(self._map)
