"""WRONG_DESTINATION 异地卸载: a loaded leg ends inside a facility other than its permit's.

The flag spans the leg (site exit to facility entry) and sits at the arrival fix.
Legs without a permit are not checked here (that is UNAUTHORISED_VEHICLE's business).
Severity 80.
"""

from __future__ import annotations

from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.tracking.checks import make_flag, point_geometry
from cdw.tracking.context import AnalysisContext
from cdw.tracking.trips import Trip, TripKind, VehicleTrack

SEVERITY = 80


def check(trip: Trip, track: VehicleTrack, ctx: AnalysisContext) -> list[Flag]:
    permit = trip.permit
    arrived = trip.destination
    if trip.kind != TripKind.loaded or permit is None or arrived is None:
        return []
    if arrived.kind != "facility" or arrived.id == permit.facility_id:
        return []
    permitted = next((f.name for f in ctx.facilities if f.id == permit.facility_id), None)
    permitted_label = permitted or f"#{permit.facility_id}"
    arrival = trip.last_fix
    lon, lat = float(track.lon[arrival]), float(track.lat[arrival])
    return [
        make_flag(
            FlagCode.WRONG_DESTINATION,
            trip,
            track,
            trip.first_fix,
            arrival,
            severity=SEVERITY,
            measured={
                "arrived_facility_id": arrived.id,
                "arrived_facility": arrived.name,
                "permitted_facility_id": permit.facility_id,
                "permitted_facility": permitted,
                "arrival_time": track.time(arrival).isoformat(),
                "load_state_source": trip.load_state_source,
            },
            thresholds={"permitted_facility_id": permit.facility_id},
            zh=(
                f"重车驶入消纳场「{arrived.name}」，而核准 {permit.permit_no} 的消纳场为"
                f"「{permitted_label}」"
            ),
            en=(
                f"Loaded truck arrived at facility '{arrived.name}', but permit "
                f"{permit.permit_no} names facility '{permitted_label}'"
            ),
            geometry=point_geometry(lon, lat),
            at=(lon, lat),
        )
    ]
