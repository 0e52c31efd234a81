"""Identifiers: unified social credit codes, registry codes, JT/T 808 terminal numbers."""

from __future__ import annotations

import re

from cdw.registry.validators import failed

# ---------------------------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015).

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, Z, S, V
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_CHARSET)}
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code."""
    total = sum(_CREDIT_VALUE[c] * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def validate_credit_code(code: str, *, field: str = "credit_code") -> str:
    """Normalise (upper case, no spaces) and check an 18-character unified social credit code."""
    if not isinstance(code, str):
        raise failed(field, "统一社会信用代码应为文本", "credit code must be a string")
    norm = re.sub(r"\s", "", code).upper()
    if len(norm) != 18:
        raise failed(
            field,
            f"统一社会信用代码应为 18 位，「{code}」为 {len(norm)} 位",
            f"a unified social credit code has 18 characters, '{code}' has {len(norm)}",
        )
    bad = sorted({c for c in norm if c not in _CREDIT_VALUE})
    if bad:
        listed = "".join(bad)
        raise failed(
            field,
            f"统一社会信用代码含非法字符「{listed}」（不使用 I、O、Z、S、V）",
            f"credit code contains invalid characters '{listed}' (I, O, Z, S, V are not used)",
        )
    if not norm[2:8].isdigit():
        raise failed(
            field,
            f"统一社会信用代码第 3–8 位（行政区划码）应为数字：「{norm[2:8]}」",
            f"characters 3-8 (administrative division code) must be digits: '{norm[2:8]}'",
        )
    expected = credit_code_check_char(norm[:17])
    if norm[17] != expected:
        raise failed(
            field,
            f"统一社会信用代码校验位错误：「{norm}」末位应为 {expected}",
            f"credit code check character is wrong: '{norm}' should end in {expected}",
        )
    return norm


# ---------------------------------------------------------------------------------------------
# Registry codes: the natural key of a site, facility, depot or zone (names may repeat).

CODE_MAX_LENGTH = 40
_CODE = re.compile(rf"[A-Za-z0-9._-]{{1,{CODE_MAX_LENGTH}}}")


def validate_code(code: str, *, field: str = "code") -> str:
    """A registry code as given (case kept, surrounding spaces dropped): 1–40 letters,
    digits, ``.``, ``_`` or ``-``."""
    norm = str(code).strip()
    if not _CODE.fullmatch(norm):
        raise failed(
            field,
            f"编码应为 1–{CODE_MAX_LENGTH} 位字母、数字、「.」「_」「-」：「{code}」",
            f"a code is 1-{CODE_MAX_LENGTH} letters, digits, '.', '_' or '-': '{code}'",
        )
    return norm


# ---------------------------------------------------------------------------------------------
# JT/T 808 terminal phone number.

_TERMINAL = re.compile(r"\d{11,20}")


def validate_terminal_id(terminal_id: str, *, field: str = "terminal_id") -> str:
    """A JT/T 808 terminal phone number: 11 to 20 digits, kept as given (leading zeros too)."""
    norm = re.sub(r"\s", "", str(terminal_id))
    if not _TERMINAL.fullmatch(norm):
        raise failed(
            field,
            f"终端手机号应为 11–20 位数字：「{terminal_id}」",
            f"terminal phone number must be 11-20 digits: '{terminal_id}'",
        )
    return norm
