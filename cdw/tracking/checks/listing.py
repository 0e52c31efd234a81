"""The engine's checks, listed once in the order the pipeline runs them: each with the flag
code it raises, its ``check`` and, where it has one, its track-wide ``may_flag`` shortcut
(``cdw.tracking.checks``). ``pipeline.CHECKS``, ``pipeline.MAY_FLAG`` and
``analysis.ENGINE_CODES`` are derived from this list."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.tracking.checks import (
    long_stop,
    out_of_hours,
    restricted_zone,
    route_deviation,
    signal_gap,
    speeding,
    suspected_dumping,
    tamper,
    wrong_destination,
)
from cdw.tracking.context import AnalysisContext
from cdw.tracking.trips import Trip, VehicleTrack

CheckFn = Callable[[Trip, VehicleTrack, AnalysisContext], list[Flag]]
MayFlagFn = Callable[[VehicleTrack, list[Trip], AnalysisContext], bool]


class Check(NamedTuple):
    code: FlagCode
    check: CheckFn
    may_flag: MayFlagFn | None


ENGINE_CHECKS: tuple[Check, ...] = (
    Check(FlagCode.ROUTE_DEVIATION, route_deviation.check, route_deviation.may_flag),
    Check(FlagCode.LONG_STOP, long_stop.check, long_stop.may_flag),
    Check(FlagCode.SUSPECTED_DUMPING, suspected_dumping.check, suspected_dumping.may_flag),
    Check(FlagCode.WRONG_DESTINATION, wrong_destination.check, None),
    Check(FlagCode.SPEEDING, speeding.check, speeding.may_flag),
    Check(FlagCode.OUT_OF_HOURS, out_of_hours.check, out_of_hours.may_flag),
    Check(FlagCode.RESTRICTED_ZONE, restricted_zone.check, restricted_zone.may_flag),
    Check(FlagCode.SIGNAL_GAP, signal_gap.check, signal_gap.may_flag),
    Check(FlagCode.TAMPER_SUSPECTED, tamper.check, tamper.may_flag),
)
