"""Password hashing (Argon2 via pwdlib) and signed bearer tokens (JWT, HS256)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash

from cdw.config import Settings
from cdw.errors import NotAuthenticated

_hasher = PasswordHash.recommended()
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return _hasher.verify(password, hashed)


def create_access_token(username: str, settings: Settings) -> str:
    expires = datetime.now(UTC) + timedelta(minutes=settings.token_expire_minutes)
    return jwt.encode({"sub": username, "exp": expires}, settings.secret_key, algorithm=ALGORITHM)


def username_from_token(token: str, settings: Settings) -> str:
    try:
        payload = jwt.decode(token, settings.secret_key, algorithms=[ALGORITHM])
    except jwt.PyJWTError as exc:
        raise NotAuthenticated() from exc
    subject = payload.get("sub")
    if not isinstance(subject, str):
        raise NotAuthenticated()
    return subject
