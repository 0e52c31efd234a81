"""Figures for the bureau: facility capacity, manifests per day, the recycling share."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from cdw.config import day_bounds
from cdw.manifests.lifecycle import ManifestState
from cdw.manifests.models import Manifest, ManifestEvent, as_utc
from cdw.manifests.services import current_receipt
from cdw.permits.services import committed_m3
from cdw.registry.categories import FacilityKind
from cdw.registry.models import DisposalFacility


def facility_capacity(session: Session, day: date) -> list[dict[str, Any]]:
    """Per facility: capacity, used (received), held by approved permits, remaining."""
    out = []
    for f in session.exec(select(DisposalFacility).order_by(col(DisposalFacility.id))):
        held = committed_m3(session, f.id, day, exclude_no="")
        out.append(
            {
                "facility_id": f.id,
                "name": f.name,
                "kind": str(f.kind),
                "capacity_m3": f.capacity_m3,
                "used_m3": round(f.used_m3, 3),
                "held_by_permits_m3": round(held, 3),
                "remaining_m3": round(f.capacity_m3 - f.used_m3, 3),
                "unallocated_m3": round(f.capacity_m3 - f.used_m3 - held, 3),
            }
        )
    return out


def manifests_per_day(session: Session, day_from: date, day_to: date, tz: ZoneInfo) -> list[dict]:
    """Per local day: manifests issued, closed and gone overdue (from their histories)."""
    start, end = day_bounds(day_from, day_to, tz)
    events = session.exec(
        select(ManifestEvent).where(
            col(ManifestEvent.at) >= start,
            col(ManifestEvent.at) < end,
            col(ManifestEvent.to_state).in_(
                [ManifestState.issued, ManifestState.closed, ManifestState.overdue]
            ),
        )
    ).all()
    counts = Counter((as_utc(e.at).astimezone(tz).date(), str(e.to_state)) for e in events)
    days = [day_from + timedelta(days=k) for k in range((day_to - day_from).days + 1)]
    return [
        {
            "day": d.isoformat(),
            "issued": counts[(d, "issued")],
            "closed": counts[(d, "closed")],
            "overdue": counts[(d, "overdue")],
        }
        for d in days
    ]


def recycling_share(session: Session, day_from: date, day_to: date, tz: ZoneInfo) -> dict:
    """综合利用率: share of the volume received (current receipts) that went to recycling
    plants, for manifests issued on ``day_from..day_to``."""
    start, end = day_bounds(day_from, day_to, tz)
    kinds = {f.id: str(f.kind) for f in session.exec(select(DisposalFacility))}
    manifests = session.exec(
        select(Manifest).where(col(Manifest.issued_at) >= start, col(Manifest.issued_at) < end)
    ).all()
    total = recycled = 0.0
    for m in manifests:
        receipt = current_receipt(session, m.id)
        if receipt is None:
            continue
        total += receipt.counted_m3
        if kinds.get(m.facility_id) == FacilityKind.recycling:
            recycled += receipt.counted_m3
    return {
        "day_from": day_from.isoformat(),
        "day_to": day_to.isoformat(),
        "received_m3": round(total, 3),
        "recycled_m3": round(recycled, 3),
        "share": round(recycled / total, 4) if total else None,
    }
