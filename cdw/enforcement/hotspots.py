"""Hotspots: where suspected dumping and long stops cluster (DBSCAN in metres). The one
implementation: the enforcement list, the HTML report and the engine's known hotspots
(``cdw.flows.context``) all use it.

The flag locations are projected once into the UTM zone of the batch
(:class:`~cdw.geo.projection.Projector`) and clustered with scikit-learn's DBSCAN:
a hotspot is a set of at least ``min_events`` locations, each within ``radius_m`` of
another. Dismissed flags (judged not a violation) are left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
from sqlmodel import Session, col, select

from cdw.enforcement.models import ReviewStatus
from cdw.errors import Problem, ValidationFailed
from cdw.flags.codes import FlagCode
from cdw.flags.models import FlagRecord
from cdw.flags.values import Flag
from cdw.geo.projection import Projector

HOTSPOT_CODES = (FlagCode.SUSPECTED_DUMPING, FlagCode.LONG_STOP)
DEFAULT_RADIUS_M = 100.0
DEFAULT_MIN_EVENTS = 3
NOISE = -1


@dataclass(frozen=True)
class Hotspot:
    rank: int
    count: int
    vehicles: list[str]
    first_seen: datetime
    last_seen: datetime
    lon: float
    lat: float
    codes: dict[str, int] = field(default_factory=dict)
    flag_ids: list[int] = field(default_factory=list)


def cluster_labels(x: np.ndarray, y: np.ndarray, radius_m: float, min_events: int) -> np.ndarray:
    """DBSCAN labels of projected points (metres): 0, 1, … per cluster, -1 for noise."""
    if radius_m <= 0 or min_events < 1:
        raise ValidationFailed(
            [
                Problem(
                    "radius_m,min_events",
                    "半径须大于 0，最少事件数须不小于 1",
                    "radius_m must be positive and min_events at least 1",
                )
            ]
        )
    if x.size == 0:
        return np.empty(0, dtype=np.int64)
    points = np.column_stack([x, y])
    from sklearn.cluster import DBSCAN  # scikit-learn takes seconds to import: only when used

    return DBSCAN(eps=radius_m, min_samples=min_events).fit(points).labels_.astype(np.int64)


def rank_hotspots(
    flags: Sequence[Flag],
    radius_m: float = DEFAULT_RADIUS_M,
    min_events: int = DEFAULT_MIN_EVENTS,
    ids: Sequence[int] = (),
) -> list[Hotspot]:
    """Cluster the stop flags among ``flags`` (suspected dumping, long stop) and rank the
    clusters: most events, then most vehicles, then the most recent. ``ids``: the stored
    flags' ids, in the same order (``Hotspot.flag_ids``)."""
    stops = [i for i, f in enumerate(flags) if f.code in HOTSPOT_CODES]
    if not stops:
        return []
    lon = np.array([flags[i].lon for i in stops])
    lat = np.array([flags[i].lat for i in stops])
    projector = Projector.for_points(lon, lat)
    x, y = projector.forward(lon, lat)
    labels = cluster_labels(x, y, radius_m, min_events)
    found = []
    for label in sorted(set(labels.tolist()) - {NOISE}):
        members = np.flatnonzero(labels == label)
        group = [flags[stops[i]] for i in members]
        c_lon, c_lat = projector.inverse([x[members].mean()], [y[members].mean()])
        starts = [f.start for f in group]
        found.append(
            Hotspot(
                rank=0,
                count=len(group),
                vehicles=sorted({f.vehicle for f in group}),
                first_seen=min(starts),
                last_seen=max(starts),
                lon=float(c_lon[0]),
                lat=float(c_lat[0]),
                codes=dict(sorted(Counter(str(f.code) for f in group).items())),
                flag_ids=sorted(ids[stops[i]] for i in members) if ids else [],
            )
        )
    found.sort(key=lambda h: (-h.count, -len(h.vehicles), -h.last_seen.timestamp()))
    return [Hotspot(**{**h.__dict__, "rank": rank}) for rank, h in enumerate(found, start=1)]


def hotspots(
    session: Session,
    *,
    day_from: date | None = None,
    day_to: date | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
    min_events: int = DEFAULT_MIN_EVENTS,
) -> list[Hotspot]:
    """Ranked hotspots of the suspected-dumping and long-stop flags of a period."""
    stmt = select(FlagRecord).where(
        col(FlagRecord.code).in_(HOTSPOT_CODES), FlagRecord.status != ReviewStatus.dismissed
    )
    if day_from is not None:
        stmt = stmt.where(FlagRecord.day >= day_from)
    if day_to is not None:
        stmt = stmt.where(FlagRecord.day <= day_to)
    records = list(session.exec(stmt.order_by(col(FlagRecord.id))).all())
    flags = [r.to_flag() for r in records]
    return rank_hotspots(flags, radius_m, min_events, [r.id for r in records])
