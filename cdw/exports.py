"""Cells of exported spreadsheets (XLSX, CSV) that a spreadsheet program shows as text.

Names, reasons and raw rows come from users and files: ``=HYPERLINK(…)`` in a name must not
become a live formula when an officer opens the export, and a control character must not
break the XLSX writer. :func:`safe_cell` is applied to every text cell of every export.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# A spreadsheet program reads a cell starting with one of these as a formula (OWASP "CSV
# injection"; the full-width forms too, which some locales accept).
FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")
# Control characters other than tab, line feed and carriage return: XML 1.0 (XLSX) forbids
# them; they are shown escaped (``\x07``) so that the export keeps evidence of them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def safe_cell(value: Any) -> Any:
    """``value`` with control characters escaped and a leading formula character quoted
    (``'=…``); numbers, dates and ``None`` pass unchanged."""
    if not isinstance(value, str):
        return value
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    return f"'{text}" if text[:1] in FORMULA_STARTS else text


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]
