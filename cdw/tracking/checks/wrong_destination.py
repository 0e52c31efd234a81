"""WRONG_DESTINATION 异地卸载: a loaded leg ends inside a facility other than its permit's.

The flag spans the leg (site exit to facility entry) and sits at the arrival fix.
Legs without a permit are not checked here (that is UNAUTHORISED_VEHICLE's business).
Severity 80.
"""

from __future__ import annotations

from cdw.flags.codes import FlagCode
from cdw.flags.values import Flag
from cdw.tracking.checks import Finding, make_flag
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
    arrival = trip.last_fix
    lon, lat = float(track.lon[arrival]), float(track.lat[arrival])
    return [
        make_flag(
            Finding(
                FlagCode.WRONG_DESTINATION,
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
                wording={"permit_no": permit.permit_no},
                at=(lon, lat),
            ),
            trip,
            track,
        )
    ]
