"""Password hashing (Argon2 via pwdlib) and signed bearer tokens (JWT, HS256).

A token names its user (``sub``), the user's token version when it was issued (``ver``),
when it was issued (``iat``) and when it expires (``exp``); all four are required. Raising
the user's ``token_version`` (disable, password or role change) revokes every token issued
before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError

from cdw.auth.keys import signing_key
from cdw.config import Settings
from cdw.errors import NotAuthenticated

_hasher = PasswordHash.recommended()
ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "ver", "iat", "exp"]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    """False also for a stored value that is no known hash (e.g. ``!``: no password login)."""
    try:
        return _hasher.verify(password, hashed)
    except UnknownHashError:
        return False


@cache
def dummy_hash() -> str:
    """A hash no password is checked against for real: verifying an unknown user's
    password against it costs what a real verification costs."""
    return hash_password("cdw: no such user")


def create_access_token(username: str, settings: Settings, token_version: int = 0) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": username,
        "ver": token_version,
        "iat": now,
        "exp": now + timedelta(minutes=settings.token_expire_minutes),
    }
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)


@dataclass(frozen=True)
class TokenClaims:
    username: str
    token_version: int


def claims_from_token(token: str, settings: Settings) -> TokenClaims:
    """The token's user and version; :class:`NotAuthenticated` when the signature is wrong,
    it has expired or it lacks a required claim."""
    try:
        payload = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.PyJWTError as exc:
        raise NotAuthenticated() from exc
    username, version = payload["sub"], payload["ver"]
    if not isinstance(username, str) or not isinstance(version, int):
        raise NotAuthenticated()
    return TokenClaims(username, version)
