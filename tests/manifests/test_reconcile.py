"""Reconciliation on a small hand-built day: exactly the expected flags, nothing more."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import mapping
from sqlmodel import Session, select

from cdw.config import Settings, Thresholds
from cdw.flags.models import FlagRecord
from cdw.flows.day import analyse_days, reconcile_days
from cdw.manifests.lifecycle import ManifestState
from cdw.manifests.models import Manifest, Receipt
from cdw.manifests.reconcile import (
    MAX_PATH_POINTS,
    ManifestFacts,
    ReceiptFacts,
    TripFacts,
    _paths,
    match_trips,
    reconcile,
    trip_facts,
)
from cdw.permits.models import Permit, PermitStatus, PermitVehicle
from cdw.permits.rules import VehicleFacts
from cdw.registry.models import ConstructionSite, DisposalFacility, Haulier, Vehicle
from cdw.tracking.pipeline import run_pipeline
from cdw.tracking.store import PointStore
from tests.tracking.handbuilt import (
    DAY,
    PLATE,
    PROJ,
    T0,
    TrackBuilder,
    box,
    context,
    line,
    lonlat,
    utc,
    zone,
)

NOW = datetime(2024, 5, 8, tzinfo=UTC)
OTHER = "粤A54321"


def geo(geom) -> dict:
    return mapping(PROJ.geom_inverse(geom))


def track() -> TrackBuilder:
    """Site (0,0) → A (5100,0) → site → B (100,5100) → site → A, 12.5 m/s, a fix every 10 s."""
    b = TrackBuilder().stay(0, 120, 0, 0)
    b.drive(120, (0, 0), (5100, 0), 12.5, include_start=False).stay(530, 830, 5100, 0)
    b.drive(840, (5100, 0), (0, 0), 12.5).stay(1250, 1550, 0, 0)
    b.drive(1560, (0, 0), (100, 5100), 12.5).stay(1970, 2270, 100, 5100)
    b.drive(2280, (100, 5100), (0, 0), 12.5).stay(2690, 2990, 0, 0)
    return b.drive(3000, (0, 0), (5100, 0), 12.5).stay(3410, 3710, 5100, 0)


def seed_day(session: Session) -> dict[str, int]:
    site = ConstructionSite(
        name="工地甲",
        project_permit_no="P",
        builder="b",
        contractor="c",
        geofence=geo(box(-100, -100, 100, 100)),
        expected_volume_m3=1000,
    )
    fa = DisposalFacility(
        name="消纳场A",
        kind="landfill",
        geofence=geo(box(5000, -100, 5200, 100)),
        capacity_m3=1e5,
        accepted_categories=["excavated_soil"],
    )
    fb = DisposalFacility(
        name="消纳场B",
        kind="landfill",
        geofence=geo(box(0, 5000, 200, 5200)),
        capacity_m3=1e5,
        accepted_categories=["excavated_soil"],
    )
    haulier = Haulier(
        name="运输公司",
        credit_code="91440117MA0000001X",
        licence_no="L",
        licence_valid_until=date(2030, 1, 1),
    )
    session.add_all([site, fa, fb, haulier])
    session.flush()
    v1 = Vehicle(
        plate=PLATE,
        haulier_id=haulier.id,
        rated_capacity_m3=18,
        rated_load_t=30,
        sealed_body=True,
        inspection_valid_until=date(2030, 1, 1),
    )
    v2 = Vehicle(
        plate=OTHER,
        haulier_id=haulier.id,
        rated_capacity_m3=18,
        rated_load_t=30,
        sealed_body=True,
        inspection_valid_until=date(2024, 1, 1),
    )
    permit = Permit(
        permit_no="HZ-1",
        site_id=site.id,
        facility_id=fa.id,
        categories=["excavated_soil"],
        volume_m3=5000,
        valid_from=date(2024, 1, 1),
        valid_to=date(2024, 12, 31),
        routes=geo(line((0, 0), (5100, 0))),
        status=PermitStatus.approved,
    )
    session.add_all([v1, v2, permit])
    session.flush()
    session.add_all([PermitVehicle(permit_id=permit.id, vehicle_id=v.id) for v in (v1, v2)])

    def manifest(no, vehicle, issued, state, volume):
        m = Manifest(
            manifest_no=no,
            permit_id=permit.id,
            permit_no="HZ-1",
            site_id=site.id,
            site_name=site.name,
            facility_id=fa.id,
            facility_name=fa.name,
            disposal_method="landfill",
            category="excavated_soil",
            declared_volume_m3=volume,
            haulier_id=haulier.id,
            haulier_name=haulier.name,
            vehicle_id=vehicle.id,
            plate=vehicle.plate,
            state=state,
            issued_by="gate",
            issued_at=utc(issued),
            departed_at=utc(issued + 50),
        )
        session.add(m)
        session.flush()
        return m

    m1 = manifest("M1", v1, 60, ManifestState.received, 15)
    m2 = manifest("M2", v1, 1500, ManifestState.departed, 15)
    m3 = manifest("M3", v2, 200, ManifestState.received, 20)
    session.add_all([
        # 13.6 vs 15: 9.3 % apart, inside the 10 % tolerance
        Receipt(manifest_id=m1.id, facility_id=fa.id, outcome="accepted",
                received_volume_m3=13.6, weighbridge_t=20, received_at=utc(600),
                recorded_by="op"),
        Receipt(manifest_id=m3.id, facility_id=fa.id, outcome="accepted",
                received_volume_m3=15, received_at=utc(2500), recorded_by="op"),
    ])  # fmt: skip
    session.commit()
    return {"M1": m1.id, "M2": m2.id, "M3": m3.id}


@pytest.fixture
def store(tmp_path) -> PointStore:
    points = PointStore(tmp_path / "points", timezone="Asia/Shanghai")
    points.append(track().frame())
    return points


def stored(session: Session) -> list[tuple[str, str, datetime]]:
    rows = session.exec(select(FlagRecord).order_by(FlagRecord.vehicle, FlagRecord.code)).all()
    assert all(r.source == "reconciliation" for r in rows)
    return [(r.vehicle, str(r.code), r.to_flag().start) for r in rows]


def test_the_hand_built_day(session: Session, store: PointStore):
    ids = seed_day(session)
    report = reconcile_days(session, store, DAY, DAY, Settings(), now=NOW)
    assert (report.manifests, report.trips) == (3, 3)
    # M2's truck went to B, not A: the engine's WRONG_DESTINATION (analyse), not ours;
    # here its manifest is left without a receipt.
    assert stored(session) == [
        (PLATE, "NO_RECEIPT", utc(1500)),
        (PLATE, "UNMANIFESTED_TRIP", utc(3000)),
        (OTHER, "OVERLOAD", utc(200)),
        (OTHER, "QUANTITY_DISCREPANCY", utc(200)),
        (OTHER, "RECEIPT_WITHOUT_TRIP", utc(200)),
        (OTHER, "UNAUTHORISED_VEHICLE", utc(200)),
    ]
    states = {no: session.get(Manifest, i).state for no, i in ids.items()}
    assert states == {"M1": "closed", "M2": "overdue", "M3": "discrepancy"}
    unmanifested = session.exec(
        select(FlagRecord).where(FlagRecord.code == "UNMANIFESTED_TRIP")
    ).one()
    assert unmanifested.measured["load_state_source"] == "inferred"  # no status bits

    again = reconcile_days(session, store, DAY, DAY, Settings(), now=NOW)
    assert (again.stored, again.replaced) == (6, 6)
    assert len(stored(session)) == 6


def test_wrong_destination_is_raised_once_through_analyse_and_reconcile(
    session: Session, store: PointStore
):
    seed_day(session)
    analysed = analyse_days(session, store, DAY, DAY, Settings(), now=NOW)
    reconciled = reconcile_days(session, store, DAY, DAY, Settings(), now=NOW)
    assert "WRONG_DESTINATION" not in reconciled.counts
    rows = session.exec(select(FlagRecord).where(FlagRecord.code == "WRONG_DESTINATION")).all()
    assert [(str(r.source), r.to_flag().start) for r in rows] == [("engine", utc(1560))]
    (wrong,) = [f for f in analysed.flags if f.code == "WRONG_DESTINATION"]
    assert wrong.measured["arrived_facility"] == "消纳场B"
    assert wrong.measured["permitted_facility"] == "消纳场A"


def test_before_the_allowance_there_is_no_no_receipt(session: Session, store: PointStore):
    seed_day(session)
    report = reconcile_days(session, store, DAY, DAY, Settings(), now=utc(1550 + 4 * 3600))
    assert report.counts["NO_RECEIPT"] == 0


# --- matching legs to manifests (pure) ----------------------------------------------------

SITE_ID, FACILITY_ID, OTHER_FACILITY_ID = 1, 10, 11


def manifest_facts(
    issued: float, receipt_at: float | None = None, receipt_facility: int = FACILITY_ID
) -> ManifestFacts:
    return ManifestFacts(
        manifest_id=1,
        manifest_no="M1",
        plate=PLATE,
        permit_no="HZ-2024-001",
        site_id=SITE_ID,
        facility_id=FACILITY_ID,
        facility_name="消纳场乙",
        issued_at=utc(issued),
        departed_at=None,
        declared_volume_m3=15.0,
        declared_weight_t=None,
        location=lonlat(0, 0),
        vehicle=VehicleFacts(
            vehicle_id=1,
            plate=PLATE,
            status="active",
            sealed_body=True,
            inspection_valid_until=date(2030, 1, 1),
            rated_capacity_m3=18.0,
            rated_load_t=30.0,
            haulier_name="运输公司",
            haulier_status="active",
            haulier_licence_valid_until=date(2030, 1, 1),
        ),
        on_permit=True,
        receipt=None
        if receipt_at is None
        else ReceiptFacts(
            facility_id=receipt_facility,
            received_at=utc(receipt_at),
            outcome="accepted",
            received_volume_m3=15.0,
            weighbridge_t=None,
            rejected_volume_m3=None,
        ),
    )


def leg(trip_id: str, start: float, end: float, **places) -> TripFacts:
    return TripFacts(
        trip_id=trip_id,
        vehicle=PLATE,
        start=utc(start),
        end=utc(end),
        origin_site_id=places.get("origin", SITE_ID),
        destination_facility_id=places.get("facility"),
        destination_site_id=places.get("site"),
        path=(lonlat(0, 0), lonlat(5100, 0)),
    )


def codes(flags) -> list[str]:
    return [str(f.code) for f in flags]


def test_fence_jitter_at_departure_leaves_one_leg_and_the_manifest_on_it():
    ctx = context(
        sites=[zone(SITE_ID, box(-100, -100, 100, 100))],
        facilities=[zone(FACILITY_ID, box(5000, -100, 5200, 100), "消纳场乙")],
    )
    # Loading by the fence (x=70), σ-sized fixes stepping out of it (x=105..130) now and
    # then and at departure, then off to the facility.
    b = TrackBuilder()
    for t in range(0, 601, 10):
        b.at(t, 125.0 if t % 70 == 0 or t >= 570 else 70.0, 0)
    b.at(610, 85, 0)
    b.drive(620, (110, 0), (5100, 0), 12.0)
    b.stay(b.last_t + 10, b.last_t + 300, 5100, 0)
    result = run_pipeline(b.frame(), ctx, checks=())
    (haul,) = trip_facts(result, ctx)
    assert (haul.start, haul.origin_site_id, haul.destination_facility_id) == (
        utc(610),
        SITE_ID,
        FACILITY_ID,
    )
    m = manifest_facts(issued=540, receipt_at=haul.end.timestamp() - T0 + 120)
    flags, _ = reconcile([m], [haul], Thresholds(), NOW)
    assert flags == []


def test_a_leg_back_to_its_own_site_never_takes_the_manifest():
    stub = leg("stub", 600, 1200, site=SITE_ID)  # out, waiting, back in
    haul = leg("haul", 1500, 2000, facility=FACILITY_ID)
    m = manifest_facts(issued=550)
    assert match_trips([m], [stub, haul], timedelta(hours=4)) == {1: haul}
    flags, _ = reconcile([m], [stub, haul], Thresholds(), NOW)
    assert codes(flags) == ["NO_RECEIPT"]  # no UNMANIFESTED_TRIP for the haul


def test_the_leg_to_the_receipts_facility_is_preferred():
    to_other = leg("other", 600, 1100, facility=OTHER_FACILITY_ID)
    to_receipt = leg("right", 1300, 1800, facility=FACILITY_ID)
    m = manifest_facts(issued=550, receipt_at=2000)
    assert match_trips([m], [to_other, to_receipt], timedelta(hours=4)) == {1: to_receipt}
    flags, _ = reconcile([m], [to_other, to_receipt], Thresholds(), NOW)
    assert codes(flags) == ["UNMANIFESTED_TRIP"]
    assert flags[0].trip_id == "other"


def test_a_receipt_is_not_supported_by_a_leg_to_another_facility():
    elsewhere = leg("other", 600, 1100, facility=OTHER_FACILITY_ID)
    flags, _ = reconcile(
        [manifest_facts(issued=550, receipt_at=1300)], [elsewhere], Thresholds(), NOW
    )
    (flag,) = flags
    assert (str(flag.code), flag.trip_id) == ("RECEIPT_WITHOUT_TRIP", "other")
    assert flag.measured["trip_facility_id"] == OTHER_FACILITY_ID
    # A leg cut by a gap (no known end) still supports it.
    cut = leg("cut", 600, 1100)
    assert (
        reconcile([manifest_facts(issued=550, receipt_at=1300)], [cut], Thresholds(), NOW)[0] == []
    )


def test_the_next_manifest_of_the_vehicle_closes_the_window():
    # M1's load went back to the site (dumped on the way); M2, issued at 2000, leaves at
    # 2100 for the facility: that leg is M2's, M1 has none (and no receipt: NO_RECEIPT).
    back = leg("back", 600, 1800, site=SITE_ID)
    haul = leg("haul", 2100, 2600, facility=FACILITY_ID)
    m1 = manifest_facts(issued=550)
    m2 = replace(manifest_facts(issued=2000, receipt_at=2700), manifest_id=2, manifest_no="M2")
    assert match_trips([m1, m2], [back, haul], timedelta(hours=4)) == {2: haul}
    flags, per_manifest = reconcile([m1, m2], [back, haul], Thresholds(), NOW)
    assert codes(flags) == ["NO_RECEIPT"]
    assert per_manifest == {1: ["NO_RECEIPT"]}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(-180, 180),
            # exact halves of the 7th decimal and their neighbours: where rounding is in doubt
            st.integers(-1_800_000_000, 1_800_000_000).map(lambda k: (k + 0.5) / 1e7),
            st.integers(-1_800_000_000, 1_800_000_000).map(
                lambda k: float(np.nextafter((k + 0.5) / 1e7, math.inf))
            ),
        ),
        max_size=40,
    )
)
def test_rounded_is_pythons_round(values: list[float]) -> None:
    """The vectorised rounding of a leg's path equals Python's ``round`` value by value
    (NaN where Python gives NaN)."""
    from cdw.manifests.reconcile import rounded

    got = rounded(np.array(values, dtype=np.float64)).tolist()
    want = [round(v, 7) for v in values]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == w or (math.isnan(g) and math.isnan(w))
        assert math.copysign(1.0, g) == math.copysign(1.0, w) or math.isnan(w)


def test_rounded_hand_picked() -> None:
    """Halves of the 7th decimal go to the even digit as Python's round does, from the exact
    binary value (0.00000015 is stored a hair above the half)."""
    from cdw.manifests.reconcile import rounded

    values = [113.4258375, 0.00000015, 0.00000025, -22.9000945, 1e300, 2.5e-8]
    assert rounded(np.array(values)).tolist() == [round(v, 7) for v in values]


def reference_path(lon: list[float], lat: list[float]) -> list[list[float]]:
    """A leg's path as written first: every ``step``-th fix and the last, rounded by Python."""
    step = max(1, math.ceil(len(lon) / MAX_PATH_POINTS))
    keep = list(range(0, len(lon), step))
    if keep[-1] != len(lon) - 1:
        keep.append(len(lon) - 1)
    return [[round(lon[i], 7), round(lat[i], 7)] for i in keep]


@st.composite
def tracks_and_legs(draw) -> tuple[dict[str, SimpleNamespace], list[SimpleNamespace]]:
    coordinate = st.floats(-180, 180)
    tracks = {}
    for vehicle in ("A", "B"):
        n = draw(st.integers(1, 900))
        lon = np.array(draw(st.lists(coordinate, min_size=n, max_size=n)))
        lat = np.array(draw(st.lists(coordinate, min_size=n, max_size=n)))
        tracks[vehicle] = SimpleNamespace(lon=lon, lat=lat)
    legs = []
    for _ in range(draw(st.integers(1, 6))):
        vehicle = draw(st.sampled_from(sorted(tracks)))
        n = tracks[vehicle].lon.size
        first = draw(st.integers(0, n - 1))
        last = draw(st.integers(first, n - 1))
        legs.append(SimpleNamespace(vehicle=vehicle, first_fix=first, last_fix=last))
    return tracks, legs


@settings(max_examples=200, deadline=None)
@given(tracks_and_legs())
def test_the_legs_paths_gathered_at_once_are_each_legs_own(case) -> None:
    """``_paths`` (every leg's fixes gathered, rounded and cut apart at once) gives each leg
    the path the plain per-leg reference gives: the same fixes, the same rounded values."""
    tracks, legs = case
    got = _paths(legs, tracks)
    assert len(got) == len(legs)
    for leg, path in zip(legs, got, strict=True):
        part = slice(leg.first_fix, leg.last_fix + 1)
        track = tracks[leg.vehicle]
        want = reference_path(track.lon[part].tolist(), track.lat[part].tolist())
        assert path.tolist() == want


def test_trip_facts_are_equal_by_value_path_included() -> None:
    a = leg("a", 600, 1100)
    assert a == leg("a", 600, 1100)  # paths equal, not the same array
    assert a != replace(a, path=[(0.0, 0.0), (0.05, 0.0)])
    assert a != replace(a, vehicle="粤A00000")
    assert a.path.shape == (2, 2) and not a.path.flags.writeable
