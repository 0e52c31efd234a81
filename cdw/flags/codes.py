"""Flag codes (DESIGN.md §3) with their labels in Chinese and English, and where a flag comes from."""

from __future__ import annotations

from enum import StrEnum


class FlagCode(StrEnum):
    ROUTE_DEVIATION = "ROUTE_DEVIATION"
    LONG_STOP = "LONG_STOP"
    SUSPECTED_DUMPING = "SUSPECTED_DUMPING"
    WRONG_DESTINATION = "WRONG_DESTINATION"
    SPEEDING = "SPEEDING"
    OUT_OF_HOURS = "OUT_OF_HOURS"
    RESTRICTED_ZONE = "RESTRICTED_ZONE"
    SIGNAL_GAP = "SIGNAL_GAP"
    TAMPER_SUSPECTED = "TAMPER_SUSPECTED"
    NO_RECEIPT = "NO_RECEIPT"
    UNMANIFESTED_TRIP = "UNMANIFESTED_TRIP"
    RECEIPT_WITHOUT_TRIP = "RECEIPT_WITHOUT_TRIP"
    QUANTITY_DISCREPANCY = "QUANTITY_DISCREPANCY"
    OVERLOAD = "OVERLOAD"
    UNAUTHORISED_VEHICLE = "UNAUTHORISED_VEHICLE"

    @property
    def zh(self) -> str:
        return FLAG_LABELS[self][0]

    @property
    def en(self) -> str:
        return FLAG_LABELS[self][1]


FLAG_LABELS: dict[FlagCode, tuple[str, str]] = {
    FlagCode.ROUTE_DEVIATION: ("偏离路线", "Route deviation"),
    FlagCode.LONG_STOP: ("长时间停留", "Long stop"),
    FlagCode.SUSPECTED_DUMPING: ("疑似偷倒", "Suspected dumping"),
    FlagCode.WRONG_DESTINATION: ("异地卸载", "Wrong destination"),
    FlagCode.SPEEDING: ("超速", "Speeding"),
    FlagCode.OUT_OF_HOURS: ("非许可时段运输", "Out of permitted hours"),
    FlagCode.RESTRICTED_ZONE: ("进入禁区", "Restricted zone"),
    FlagCode.SIGNAL_GAP: ("轨迹中断", "Signal gap"),
    FlagCode.TAMPER_SUSPECTED: ("疑似车机分离", "Suspected tampering"),
    FlagCode.NO_RECEIPT: ("联单未闭合", "No receipt"),
    FlagCode.UNMANIFESTED_TRIP: ("无单运输", "Unmanifested trip"),
    FlagCode.RECEIPT_WITHOUT_TRIP: ("有单无轨迹", "Receipt without trip"),
    FlagCode.QUANTITY_DISCREPANCY: ("数量不符", "Quantity discrepancy"),
    FlagCode.OVERLOAD: ("超载", "Overload"),
    FlagCode.UNAUTHORISED_VEHICLE: ("无证运输", "Unauthorised vehicle"),
}


class FlagSource(StrEnum):
    engine = "engine"
    reconciliation = "reconciliation"
