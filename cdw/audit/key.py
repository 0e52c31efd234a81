"""The audit chain's key: a secret kept outside the database, so that whoever can write the
database cannot recompute the chain after editing it.

``Settings.audit_key`` when set, else the file ``audit.key`` in the data directory, created
(owner read/write only) with a random key the first time an entry is written. Keep a copy of
the key away from the database backups: without it the keyed entries cannot be verified.
It is not the token signing key: rotating one must not touch the other.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cdw.config import Settings, get_settings

KEY_FILE = "audit.key"
MIN_KEY_LENGTH = 32

_loaded: dict[Path, bytes] = {}


class AuditKeyMissing(RuntimeError):
    """No key configured and none in the data directory (verification needs the key)."""


def key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def _create(path: Path) -> None:
    """Write a random key to ``path`` (0600), whole or not at all: a temporary file linked
    into place, so a concurrent reader never sees a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32))
        os.link(partial, path)
    except FileExistsError:
        pass  # another process created it first: that key is the key
    finally:
        partial.unlink(missing_ok=True)


def _checked(key: str, where: str) -> bytes:
    key = key.strip()
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(
            f"审计密钥过短（{where}，至少 {MIN_KEY_LENGTH} 个字符） / "
            f"the audit key ({where}) is shorter than {MIN_KEY_LENGTH} characters"
        )
    return key.encode("utf-8")


def audit_key(settings: Settings | None = None, *, create: bool = True) -> bytes:
    """The key of the chain; ``create``: make the key file when there is none (appending),
    else :class:`AuditKeyMissing` (verifying: a new key would not be the chain's)."""
    settings = settings or get_settings()
    if settings.audit_key:
        return _checked(settings.audit_key, "CDW_AUDIT_KEY")
    path = key_path(settings).resolve()
    if path in _loaded:
        return _loaded[path]
    if not path.exists():
        if not create:
            raise AuditKeyMissing(
                f"找不到审计密钥 {path}（CDW_AUDIT_KEY 未设置） / "
                f"no audit key: {path} is missing and CDW_AUDIT_KEY is not set"
            )
        _create(path)
    key = _checked(path.read_text(encoding="ascii"), str(path))
    _loaded[path] = key
    return key
