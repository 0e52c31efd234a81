"""Every geofence of the registry as map features, as far as the reader's scope goes.

Sites, facilities, depots and restricted zones, active ones only (an inactive record is no
place a truck is sent to or kept out of). The reader's :class:`Scope` limits them exactly as
the registry's lists do (``scope_filter``): a site dispatcher sees its site, a facility
operator its facility, a haulier its depots; restricted zones are public to every role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from cdw.registry.categories import RecordStatus
from cdw.registry.models import ConstructionSite, Depot, DisposalFacility, RestrictedZone
from cdw.registry.services import Scope, scope_filter

# kind → (table, label zh, label en)
GEOFENCE_KINDS: dict[str, tuple[type, str, str]] = {
    "site": (ConstructionSite, "排放工地", "construction site"),
    "facility": (DisposalFacility, "消纳场所", "disposal facility"),
    "depot": (Depot, "停车场", "depot"),
    "zone": (RestrictedZone, "禁区", "restricted zone"),
}


@dataclass(frozen=True)
class GeofenceFeature:
    kind: str
    kind_zh: str
    kind_en: str
    id: int
    code: str | None
    name: str
    subkind: str | None  # a facility's or a zone's kind
    subkind_zh: str | None
    geometry: dict[str, Any]


def geofence_features(
    session: Session, scope: Scope, kinds: list[str] | None = None
) -> list[GeofenceFeature]:
    """The active geofences of ``kinds`` (default: all four) that ``scope`` may read."""
    out: list[GeofenceFeature] = []
    for kind, (model, zh, en) in GEOFENCE_KINDS.items():
        if kinds is not None and kind not in kinds:
            continue
        rows = session.exec(
            select(model)
            .where(col(model.status) == RecordStatus.active, scope_filter(model, scope))
            .order_by(col(model.id))
        ).all()
        for row in rows:
            sub = getattr(row, "kind", None)
            out.append(
                GeofenceFeature(
                    kind=kind,
                    kind_zh=zh,
                    kind_en=en,
                    id=row.id,
                    code=row.code,
                    name=row.name,
                    subkind=None if sub is None else str(sub),
                    subkind_zh=None if sub is None else getattr(sub, "zh", str(sub)),
                    geometry=row.geofence,
                )
            )
    return out
