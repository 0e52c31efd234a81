"""Hotspot clustering on hand-placed flags with known clusters, noise and near misses."""

from __future__ import annotations

import numpy as np
import pytest

from cdw.enforcement import review
from cdw.enforcement.hotspots import cluster_labels, hotspots, rank_hotspots
from cdw.errors import ValidationFailed
from cdw.flags.codes import FlagCode
from cdw.geo.projection import Projector
from tests.enforcement.world import T0, add_flag, build_world

PROJ = Projector.for_points([113.5], [23.6])
A = PROJ.forward([113.50], [23.60])
B = PROJ.forward([113.60], [23.50])


def _at(origin, dx: float, dy: float) -> tuple[float, float]:
    lon, lat = PROJ.inverse([origin[0][0] + dx], [origin[1][0] + dy])
    return float(lon[0]), float(lat[0])


def test_labels_on_a_line():
    # 0-1-2 chained at 90 m (a cluster of 3), 3-4 at 90 m but only two: noise at min 3
    x = np.array([0.0, 90.0, 180.0, 1000.0, 1090.0])
    labels = cluster_labels(x, np.zeros(5), radius_m=100, min_events=3)
    assert labels.tolist() == [0, 0, 0, -1, -1]
    assert cluster_labels(x, np.zeros(5), radius_m=100, min_events=2).tolist() == [0, 0, 0, 1, 1]
    # 101 m apart: never neighbours
    assert cluster_labels(np.array([0.0, 101.0]), np.zeros(2), 100, 2).tolist() == [-1, -1]
    assert cluster_labels(np.array([]), np.array([]), 100, 3).tolist() == []
    with pytest.raises(ValidationFailed):
        cluster_labels(x, np.zeros(5), radius_m=0, min_events=3)


def test_known_clusters_are_found_and_ranked(session):
    world = build_world(session)
    p1, p2 = world.vehicle.plate, world.other_vehicle.plate

    def flag(code, plate, where, minutes, **kw):
        lon, lat = where
        return add_flag(session, code, plate=plate, lon=lon, lat=lat, minutes=minutes, **kw)

    dumping, stop = FlagCode.SUSPECTED_DUMPING, FlagCode.LONG_STOP
    a = [
        flag(dumping, p1, _at(A, 0, 0), 0),
        flag(stop, p2, _at(A, 30, 0), 10),
        flag(dumping, p1, _at(A, 0, 40), 20),
        flag(stop, p2, _at(A, -50, -20), 30),
    ]
    b = [
        flag(dumping, p1, _at(B, 0, 0), 100),
        flag(dumping, p1, _at(B, 60, 0), 110),
        flag(dumping, p1, _at(B, 120, 0), 120),  # chained through the middle one
    ]
    flag(dumping, p1, _at(A, 170, 0), 200)  # 140 m from the nearest member of A: alone
    flag(FlagCode.SPEEDING, p1, _at(A, 10, 10), 210)  # not a stop
    dismissed = flag(dumping, p2, _at(A, 5, 5), 220)
    review.dismiss(session, dismissed, world.officer, "装货等待")
    session.commit()

    found = hotspots(session, radius_m=100, min_events=3)
    assert [(h.rank, h.count, h.vehicles) for h in found] == [
        (1, 4, sorted([p1, p2])),
        (2, 3, [p1]),
    ]
    first, second = found
    assert first.flag_ids == sorted(f.id for f in a)
    assert second.flag_ids == sorted(f.id for f in b)
    assert first.codes == {"LONG_STOP": 2, "SUSPECTED_DUMPING": 2}
    assert first.first_seen == T0 and second.last_seen.isoformat() == "2026-11-20T04:00:00+00:00"
    cx, cy = PROJ.forward([first.lon], [first.lat])
    assert abs(cx[0] - (A[0][0] - 20 / 4)) < 0.01 and abs(cy[0] - (A[1][0] + 20 / 4)) < 0.01
    cx, cy = PROJ.forward([second.lon], [second.lat])
    assert abs(cx[0] - (B[0][0] + 60)) < 0.01 and abs(cy[0] - B[1][0]) < 0.01
    # a smaller radius splits A: only the 30 m / 40 m neighbours of its first point remain
    assert [h.count for h in hotspots(session, radius_m=45, min_events=3)] == [3]


def test_no_flags_no_hotspots():
    assert rank_hotspots([]) == []
