"""Opening hours ``HH:MM-HH:MM`` (overnight when the end is before the start)."""

from __future__ import annotations

import re
from datetime import time

from cdw.registry.validators import failed

_HOURS = re.compile(r"(\d{1,2}):(\d{2})\s*[-–~至]\s*(\d{1,2}):(\d{2})")


def parse_opening_hours(hours: str, *, field: str = "opening_hours") -> tuple[time, time | None]:
    """``"07:00-22:00"`` → (07:00, 22:00). An end of ``24:00`` is returned as ``None``."""
    match = _HOURS.fullmatch(str(hours).strip())
    problem = failed(
        field,
        f"营业时间格式应为 HH:MM-HH:MM（如 07:00-22:00，可跨夜 20:00-06:00）：「{hours}」",
        f"opening hours must look like HH:MM-HH:MM (07:00-22:00; overnight 20:00-06:00): '{hours}'",
    )
    if not match:
        raise problem
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise problem
    start = time(h1, m1)
    end = None if h2 == 24 else time(h2, m2)
    if end == start:
        raise failed(
            field,
            f"营业时间起止相同「{hours}」；全天开放请写 00:00-24:00",
            f"opening hours start and end are equal '{hours}'; write 00:00-24:00 for all day",
        )
    return start, end


def validate_opening_hours(hours: str, *, field: str = "opening_hours") -> str:
    """Check and normalise to ``HH:MM-HH:MM``; an end before the start means overnight."""
    start, end = parse_opening_hours(hours, field=field)
    return f"{start:%H:%M}-{'24:00' if end is None else f'{end:%H:%M}'}"


def opening_hours_contain(hours: str, at: time) -> bool:
    """Whether local time ``at`` lies in ``hours`` (start inclusive, end exclusive)."""
    start, end = parse_opening_hours(hours)
    if end is None:
        return at >= start
    if start < end:
        return start <= at < end
    return at >= start or at < end  # overnight
