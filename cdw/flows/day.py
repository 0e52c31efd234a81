"""The day flow: analyse and reconcile local days on one engine run.

``analyse_days`` reads the points of the days once (local midnight to midnight) in groups of
vehicles, runs the pipeline once on each (``cdw.flows.partitioned``: here or on Dask), stores
the engine's flags and the run's loaded legs (``LoadedLeg``, with an ``AnalysedDay`` row per
day), in one transaction; the legs wait in a temporary file meanwhile, not in memory.
``reconcile_days`` reconciles the days' manifests against loaded legs: the ones it is handed,
else the stored legs of the days' analysis (``analyse_and_reconcile_days``: those the same
run just stored), so the reconciliation is explained by
the very trips the engine flagged. Only for days never analysed does it run the pipeline
itself (without checks, storing nothing of the run: analysing them is ``analyse_days``).
All three run with the cyclic garbage collector paused (``gc_paused``), for whoever calls them
(the CLI, an API request): no full collection over a run's many small objects.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import IO
from zoneinfo import ZoneInfo

import shapely
from sqlmodel import Session, col, delete, func, select

from cdw.auth.models import User
from cdw.config import Settings, day_bounds, get_settings
from cdw.db import insert_rows
from cdw.enforcement.models import CaseFlag, FlagExplanation, FlagReview
from cdw.flags.codes import FlagCode, FlagSource
from cdw.flags.store import replace_flags
from cdw.flows.context import context_parts
from cdw.flows.models import AnalysedDay, LoadedLeg
from cdw.flows.partitioned import (
    ContextParcel,
    PickledLegs,
    merge_results,
    plan_tasks,
    run_tasks,
    span_projector,
)
from cdw.geo.shapes import GEOFENCE, GEOFENCE_KINDS, parse_geometry
from cdw.manifests.lifecycle import IN_TRANSIT, RECEIPT_OUTCOMES, ManifestState, can_transition
from cdw.manifests.models import Manifest, as_utc
from cdw.manifests.reconcile import (
    DISPUTING,
    ManifestFacts,
    ReceiptFacts,
    ReconciliationReport,
    TripFacts,
    reconcile,
)
from cdw.permits.models import PermitVehicle
from cdw.registry.models import ConstructionSite, Vehicle
from cdw.tracking.analysis import AnalysisReport, check_days
from cdw.tracking.pipeline import gc_paused
from cdw.tracking.store import PointStore

# Records that point at a flag: re-analysis keeps a flag any of them refers to (an
# explanation (申诉), a review, a case), so a haulier's explanation never blocks a re-run.
FLAG_HOLDERS = (FlagExplanation.flag_id, FlagReview.flag_id, CaseFlag.flag_id)


def _run(
    session: Session,
    store: PointStore,
    start_day: date,
    end_day: date,
    settings: Settings,
    now: datetime | None,
    checks: bool,
    on_legs: Callable[[list[TripFacts] | PickledLegs], None] | None = None,
) -> tuple[AnalysisReport, list[TripFacts]]:
    """One engine run over the days: its report (flags found, none stored) and loaded legs
    (with ``on_legs``: none, each task's legs are handed there as it ends). The run is
    planned as vehicle groups of at most ``analysis_chunk_rows`` points, run where
    ``analysis_scheduler`` says (``cdw.flows.partitioned``)."""
    start, end = day_bounds(start_day, end_day, ZoneInfo(settings.local_timezone))
    now = now or datetime.now(UTC)  # one instant for every task
    report = AnalysisReport(start_day, end_day)
    tasks = plan_tasks(
        store.vehicle_counts(start, end), settings.analysis_chunk_rows, store.buckets
    )
    report.points_read = sum(t.rows for t in tasks)
    projector = span_projector(store, start, end) if tasks else None
    if projector is None:
        return report, []
    # unbuilt: the matcher is built where the tasks run (here, or on each Dask worker)
    fields, network = context_parts(session, start_day, end_day, projector, settings)
    context = ContextParcel(fields, network, table_cache=settings.road_cache_dir)
    results = run_tasks(
        store,
        start,
        end,
        tasks,
        context,
        now,
        checks,
        settings.analysis_scheduler,
        settings.analysis_workers,
        settings.analysis_store_url,
        settings.analysis_local_min_points,
    )
    run = merge_results(results, on_legs)
    report.points_read = run.points_read
    report.points_kept = run.points_kept
    report.dropped = run.dropped
    report.vehicles = run.vehicles
    report.trips = run.trips
    report.flags = run.flags
    report.timings = run.timings
    return report, run.legs


def _spooled(spool: IO[bytes]) -> Iterator[list[TripFacts]]:
    """The lists of legs pickled one after the other into ``spool``, from its start."""
    spool.seek(0)
    while True:
        try:
            yield pickle.load(spool)
        except EOFError:
            return


def _analyse(
    session: Session,
    store: PointStore,
    start_day: date,
    end_day: date,
    settings: Settings,
    now: datetime | None,
    actor: User | str,
) -> AnalysisReport:
    check_days(start_day, end_day)
    tz = ZoneInfo(settings.local_timezone)
    # The run's loaded legs wait in a temporary file, task by task, until they are stored:
    # a long range's legs, each with its path, would otherwise all be in memory at once.
    with tempfile.TemporaryFile() as spool:

        def keep(legs: list[TripFacts] | PickledLegs) -> None:
            spool.write(PickledLegs.of(legs).data)  # from a Dask worker: as they came

        report = _run(session, store, start_day, end_day, settings, now, True, keep)[0]
        session.exec(
            delete(LoadedLeg).where(col(LoadedLeg.day) >= start_day, col(LoadedLeg.day) <= end_day)
        )
        for legs in _spooled(spool):  # one task's legs at a time
            if legs:
                rows = [LoadedLeg.row_of(leg, tz) for leg in legs]
                insert_rows(session, LoadedLeg.__table__, rows)  # type: ignore[attr-defined]
    analysed_at = datetime.now(UTC)
    for offset in range((end_day - start_day).days + 1):
        day = start_day + timedelta(days=offset)
        record = session.get(AnalysedDay, day) or AnalysedDay(day=day, analysed_at=analysed_at)
        record.analysed_at = analysed_at
        session.add(record)
    saved = replace_flags(
        session,
        FlagSource.engine,
        start_day,
        end_day,
        report.flags,
        tz,
        actor=actor,
        held_by=FLAG_HOLDERS,
    )
    report.stored, report.replaced = saved.stored, saved.replaced
    report.kept_reviewed = saved.kept_reviewed
    return report


@gc_paused()
def analyse_days(
    session: Session,
    store: PointStore,
    start_day: date,
    end_day: date,
    settings: Settings | None = None,
    now: datetime | None = None,
    actor: User | str = "analysis",
) -> AnalysisReport:
    """Run the engine over local days ``start_day..end_day``; persist its flags and legs
    (``actor``: who ran it, for the audit log)."""
    settings = settings or get_settings()
    report = _analyse(session, store, start_day, end_day, settings, now, actor)
    session.commit()
    return report


def analysed_legs(session: Session, start_day: date, end_day: date) -> list[TripFacts] | None:
    """The stored loaded legs of the days, or None when some day was never analysed."""
    analysed = session.exec(
        select(func.count())
        .select_from(AnalysedDay)
        .where(col(AnalysedDay.day) >= start_day, col(AnalysedDay.day) <= end_day)
    ).one()
    if analysed < (end_day - start_day).days + 1:
        return None
    rows = session.exec(
        select(LoadedLeg)
        .where(col(LoadedLeg.day) >= start_day, col(LoadedLeg.day) <= end_day)
        .order_by(col(LoadedLeg.start_ts), col(LoadedLeg.vehicle), col(LoadedLeg.trip_id))
    ).all()
    return [row.to_facts() for row in rows]


def manifest_facts(session: Session, manifest: Manifest) -> ManifestFacts:
    # the services of manifests and permits are reconciliation's alone: imported here, not
    # by every `cdw analyse`
    from cdw.manifests.services import current_receipt
    from cdw.permits.services import vehicle_facts

    vehicle = session.exec(select(Vehicle).where(Vehicle.plate == manifest.plate)).first()
    on_permit = vehicle is not None and (
        session.exec(
            select(PermitVehicle).where(
                PermitVehicle.permit_id == manifest.permit_id,
                PermitVehicle.vehicle_id == vehicle.id,
            )
        ).first()
        is not None
    )
    site = session.get(ConstructionSite, manifest.site_id)
    centre = shapely.centroid(
        parse_geometry(site.geofence, GEOFENCE_KINDS, field="geofence", what=GEOFENCE)
    )
    receipt = current_receipt(session, manifest.id)
    return ManifestFacts(
        manifest_id=manifest.id,
        manifest_no=manifest.manifest_no,
        plate=manifest.plate,
        permit_no=manifest.permit_no,
        facility_id=manifest.facility_id,
        facility_name=manifest.facility_name,
        site_id=manifest.site_id,
        issued_at=as_utc(manifest.issued_at),
        departed_at=as_utc(manifest.departed_at),
        declared_volume_m3=manifest.declared_volume_m3,
        declared_weight_t=manifest.declared_weight_t,
        location=(round(centre.x, 7), round(centre.y, 7)),
        vehicle=vehicle_facts(session, vehicle) if vehicle else None,
        on_permit=on_permit,
        receipt=None
        if receipt is None
        else ReceiptFacts(
            facility_id=receipt.facility_id,
            received_at=as_utc(receipt.received_at),
            outcome=str(receipt.outcome),
            received_volume_m3=receipt.received_volume_m3,
            weighbridge_t=receipt.weighbridge_t,
            rejected_volume_m3=receipt.rejected_volume_m3,
        ),
    )


def _advance(
    session: Session, manifest: Manifest, codes: list[FlagCode], report: ReconciliationReport
) -> None:
    state = ManifestState(manifest.state)
    if FlagCode.NO_RECEIPT in codes and state in IN_TRANSIT:
        target = ManifestState.overdue
    elif state in RECEIPT_OUTCOMES:
        target = ManifestState.discrepancy if DISPUTING & set(codes) else ManifestState.closed
        if target == ManifestState.closed and codes:
            return  # flags that leave the receipt standing still need an officer's look
    else:
        return
    if can_transition(state, target):
        from cdw.manifests.services import change_state

        change_state(session, manifest, target, "reconciliation", "对账 / reconciliation")
        report.state_changes[target.value] = report.state_changes.get(target.value, 0) + 1


@gc_paused()
def reconcile_days(
    session: Session,
    store: PointStore,
    start_day: date,
    end_day: date,
    settings: Settings | None = None,
    now: datetime | None = None,
    legs: list[TripFacts] | None = None,
    actor: User | str = "reconciliation",
) -> ReconciliationReport:
    """Reconcile the manifests issued on local days ``start_day..end_day`` with the loaded
    legs of the days (``legs``, else those of the days' analysis run); store the flags and
    advance the manifests (one transaction)."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    tz = ZoneInfo(settings.local_timezone)
    start, end = day_bounds(start_day, end_day, tz)
    if legs is None:
        legs = analysed_legs(session, start_day, end_day)
    if legs is None:
        legs = _run(session, store, start_day, end_day, settings, None, checks=False)[1]
    report = ReconciliationReport(start_day, end_day)
    manifests = session.exec(
        select(Manifest).where(
            col(Manifest.issued_at) >= start,
            col(Manifest.issued_at) < end,
            col(Manifest.state) != ManifestState.void,
        ).order_by(col(Manifest.issued_at), col(Manifest.id))
    ).all()  # fmt: skip
    facts = [manifest_facts(session, m) for m in manifests]
    report.manifests, report.trips = len(facts), len(legs)
    report.flags, per_manifest = reconcile(facts, legs, settings.thresholds, now, start)
    for manifest in manifests:
        _advance(session, manifest, per_manifest.get(manifest.id, []), report)
    saved = replace_flags(
        session,
        FlagSource.reconciliation,
        start_day,
        end_day,
        report.flags,
        tz,
        actor=actor,
        held_by=FLAG_HOLDERS,
    )
    session.commit()
    report.stored, report.replaced = saved.stored, saved.replaced
    report.kept_reviewed = saved.kept_reviewed
    return report


@gc_paused()
def analyse_and_reconcile_days(
    session: Session,
    store: PointStore,
    start_day: date,
    end_day: date,
    settings: Settings | None = None,
    now: datetime | None = None,
    actor: User | str = "analysis",
) -> tuple[AnalysisReport, ReconciliationReport]:
    """Analyse the days and reconcile them on the same engine run (the legs it stored)."""
    settings = settings or get_settings()
    analysis = _analyse(session, store, start_day, end_day, settings, now, actor)
    return analysis, reconcile_days(session, store, start_day, end_day, settings, now, actor=actor)
