"""The key that signs bearer tokens: configured, or made once per install and kept in a file.

``CDW_SECRET_KEY`` wins when set. Otherwise the key lives in ``<data_dir>/secret.key``,
32 random bytes (URL-safe base64), created with owner-only permissions (0600) by
``cdw db upgrade`` or the first start. Outside ``CDW_ENV=development`` the API refuses to
start with a key that was ever published (the old default) or is shorter than 32 bytes.
"""

from __future__ import annotations

import os
import secrets
import stat
from contextlib import suppress
from functools import lru_cache
from pathlib import Path

from cdw.config import Settings
from cdw.errors import CdwError

KEY_FILE_NAME = "secret.key"
MIN_KEY_BYTES = 32
# Keys that appeared in cdw's public source; whoever read it can sign tokens with them.
PUBLISHED_KEYS = frozenset({"change-me-in-production-cdw-secret-key"})


class InsecureKey(CdwError):
    """The signing key is public, short or readable by others: the API does not start."""

    code = "insecure_key"
    http_status = 500


def key_file(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE_NAME


@lru_cache
def _read_or_create(path: Path) -> str:
    """The key in ``path``; made first (atomically, mode 0600) when the file does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(MIN_KEY_BYTES) + "\n")
            with suppress(FileExistsError):  # another process made it first: theirs wins
                os.link(draft, path)
        finally:
            draft.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()


def signing_key(settings: Settings) -> str:
    """The configured key, else the per-install key file's (made when missing)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    return _read_or_create(key_file(settings).resolve())


def check_signing_key(settings: Settings) -> None:
    """Raise :class:`InsecureKey` unless the key is fit for production (or ``env`` is
    ``development``). Makes the key file when none is configured."""
    key = signing_key(settings)
    if settings.env == "development":
        return
    if key in PUBLISHED_KEYS:
        raise InsecureKey(
            "签名密钥是公开的默认值，任何人都能伪造令牌：请删除 CDW_SECRET_KEY 让系统自动生成密钥，"
            "或设置至少 32 字节的随机密钥（开发环境可设 CDW_ENV=development）",
            "The signing key is the public default: anyone can forge tokens. Unset "
            "CDW_SECRET_KEY to have a key generated, or set a random key of at least 32 bytes "
            "(CDW_ENV=development for development)",
        )
    if len(key.encode("utf-8")) < MIN_KEY_BYTES:
        raise InsecureKey(
            f"签名密钥太短（{len(key.encode('utf-8'))} 字节，至少 {MIN_KEY_BYTES} 字节）",
            f"The signing key is too short ({len(key.encode('utf-8'))} bytes, "
            f"at least {MIN_KEY_BYTES})",
        )
    path = key_file(settings)
    if settings.secret_key is None and os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise InsecureKey(
                f"密钥文件 {path} 其他用户可读（权限 {mode:o}）：请执行 chmod 600",
                f"The key file {path} is readable by other users (mode {mode:o}): chmod 600 it",
            )
