"""Password policy: long enough, not among the most common, not made from the username.

The common passwords are the 10,000 most frequent of a public ten-million-password corpus,
shipped with the package (``common_passwords.txt``; source and licence in
``common_passwords.NOTICE``). They are compared case-insensitively.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cdw.errors import Problem, ValidationFailed

COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip())


def _derived_from_username(password: str, username: str) -> bool:
    word, name = password.casefold(), username.casefold()
    if not name:
        return False
    return name in word or word in name or name[::-1] in word


def password_problems(password: str, username: str, min_length: int) -> list[Problem]:
    """Everything the policy has against ``password`` for the user ``username``."""
    problems = []
    if len(password) < min_length:
        problems.append(
            Problem(
                "password",
                f"密码太短：至少 {min_length} 个字符",
                f"Password too short: at least {min_length} characters",
            )
        )
    if password.casefold() in common_passwords():
        problems.append(
            Problem(
                "password",
                "密码是最常见的密码之一，容易被猜中",
                "Password is one of the most common passwords and easy to guess",
            )
        )
    if _derived_from_username(password, username):
        problems.append(
            Problem(
                "password",
                "密码不能与用户名相同、包含用户名或是用户名的倒写",
                "Password may not equal, contain or reverse the username",
            )
        )
    return problems


def check_password(password: str, username: str, min_length: int) -> None:
    """Raise :class:`ValidationFailed` (422) naming every rule ``password`` breaks."""
    if problems := password_problems(password, username, min_length):
        raise ValidationFailed(problems, "密码不符合要求", "Password does not meet the policy")
