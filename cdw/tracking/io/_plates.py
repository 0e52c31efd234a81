"""Licence-plate normalisation and check (DESIGN.md §2), vectorised for readers.

Ordinary plates: province character, city letter, five characters (``粤A12345``). New-energy
plates have eight: D or F right after the city letter (small vehicles, ``粤AD12345``) or at
the end (large vehicles, ``粤A12345D``). The letters I and O are never used.
"""

from __future__ import annotations

import re

import polars as pl

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_LETTER = "A-HJ-NP-Z"
_CHAR = f"{_LETTER}0-9"
PLATE_PATTERN = (
    f"^[{PROVINCES}][{_LETTER}]"
    f"(?:[{_CHAR}]{{5}}|[DF][{_CHAR}]{{5}}|[{_CHAR}]{{5}}[DF])$"
)
_PLATE_RE = re.compile(PLATE_PATTERN)
# Separators people type inside plates: spaces, the middle dot of printed plates, hyphens.
_SEPARATORS = r"[\s·•\-]"


def normalise_plate(plate: str) -> str:
    """Upper-case and drop separators: ``' 粤a·12345 '`` → ``'粤A12345'``."""
    return re.sub(_SEPARATORS, "", plate).upper()


def is_valid_plate(plate: str) -> bool:
    return _PLATE_RE.fullmatch(normalise_plate(plate)) is not None


def normalise_plate_expr(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(_SEPARATORS, "").str.to_uppercase()


def valid_plate_expr(normalised: pl.Expr) -> pl.Expr:
    return normalised.str.contains(PLATE_PATTERN)
