"""What the API does before it answers: check the signing key, set up the log-in guard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from cdw.auth.keys import check_signing_key
from cdw.auth.login import LoginGuard
from cdw.auth.security import dummy_hash
from cdw.config import get_settings


@asynccontextmanager
async def auth_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Refuses to start with an unfit signing key (:class:`cdw.auth.keys.InsecureKey`)."""
    settings = get_settings()
    check_signing_key(settings)
    app.state.login_guard = LoginGuard(settings)
    await anyio.to_thread.run_sync(dummy_hash)
    yield
