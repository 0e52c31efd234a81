"""The bounds of every numeric and date input, in one place.

Each type below is a number, id or date of a known unit with the range a real value can have;
anything outside (NaN, infinity, 1e308 m³, an id the database's integer cannot hold, a receipt
dated year 1, ``true`` where a number is meant) is refused with 422 naming the field instead of
being stored or reaching the database. Input models of the API, the services and the file
importers use these types; the ranges are also here as constants for code that checks plain
numbers (GPS rows in :mod:`cdw.tracking.ingest`, threshold overrides in :mod:`cdw.config`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le
from pydantic import AfterValidator, AllowInfNan, BeforeValidator

# Integer columns (ids, counts) are 32-bit signed on PostgreSQL.
DB_INT_MAX = 2**31 - 1
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
FIRST_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)
LAST_MOMENT = datetime(2101, 1, 1, tzinfo=UTC)

# Unit-sane ceilings.
MAX_SITE_VOLUME_M3 = 1e9  # a permit's volume, a facility's capacity, a site's expected volume
MAX_LOAD_M3 = 200.0  # one truck load, one receipt
MAX_LOAD_T = 200.0  # one truck load or rated load, one weighbridge reading
MAX_SPEED_KMH = 400.0  # a GPS speed; faster is a broken terminal, not a truck
MAX_DISTANCE_M = 1_000_000.0  # radii, widths, jumps: within a city region
MAX_DURATION_S = 7 * 86400.0  # gaps, stops and allowances: at most a week
MAX_MONEY_YUAN = 1e9


def _not_bool(value: Any) -> Any:
    """JSON ``true``/``false`` is not a number (pydantic's lax mode would store 1/0)."""
    if isinstance(value, bool):
        raise ValueError("应为数字而不是布尔值 / a number is expected, not true/false")
    return value


_NUMBER = BeforeValidator(_not_bool)
_FINITE = AllowInfNan(False)


def _real(lo: float, hi: float, *, open_low: bool = False) -> Any:
    low = Gt(lo) if open_low else Ge(lo)
    return Annotated[float, _NUMBER, _FINITE, low, Le(hi)]


DbId = Annotated[int, _NUMBER, Ge(1), Le(DB_INT_MAX)]
Count = Annotated[int, _NUMBER, Ge(0), Le(DB_INT_MAX)]
Score = Annotated[int, _NUMBER, Ge(0), Le(100)]

VolumeM3 = _real(0, MAX_SITE_VOLUME_M3)
PositiveVolumeM3 = _real(0, MAX_SITE_VOLUME_M3, open_low=True)
LoadM3 = _real(0, MAX_LOAD_M3)
PositiveLoadM3 = _real(0, MAX_LOAD_M3, open_low=True)
WeightT = _real(0, MAX_LOAD_T)
PositiveWeightT = _real(0, MAX_LOAD_T, open_low=True)
SpeedKmh = _real(0, MAX_SPEED_KMH)
PositiveSpeedKmh = _real(0, MAX_SPEED_KMH, open_low=True)
DistanceM = _real(0, MAX_DISTANCE_M)
PositiveDistanceM = _real(0, MAX_DISTANCE_M, open_low=True)
DurationS = _real(0, MAX_DURATION_S)
Longitude = _real(-180, 180)
Latitude = _real(-90, 90)
MoneyYuan = _real(0, MAX_MONEY_YUAN)
Ratio = _real(0, 1)
Sigmas = _real(0, 100, open_low=True)  # a multiple of a GPS σ
Hour = Annotated[int, _NUMBER, Ge(0), Le(24)]


def _day_in_range(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(
            f"日期须在 {FIRST_DAY} 至 {LAST_DAY} 之间 / a date between {FIRST_DAY} and {LAST_DAY}"
        )
    return value


def _moment_in_range(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not FIRST_MOMENT <= aware < LAST_MOMENT:
        raise ValueError(
            f"时间须在 {FIRST_DAY} 至 {LAST_DAY} 之间 / a time between {FIRST_DAY} and {LAST_DAY}"
        )
    return value


def _no_epoch_numbers(value: Any) -> Any:
    """``day_to=0`` is not 1970-01-01: dates and times are ISO text, not seconds since 1970."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError("日期须为 ISO 格式（YYYY-MM-DD） / a date is written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_no_epoch_numbers), AfterValidator(_day_in_range)]
Moment = Annotated[datetime, BeforeValidator(_no_epoch_numbers), AfterValidator(_moment_in_range)]
