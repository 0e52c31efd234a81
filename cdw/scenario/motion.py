"""A truck's true movement: legs along the network (``Leg``) and the tape a day is driven onto (``Tape``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from cdw.scenario.world import TRUCK_LIMIT_KMH, World

# JT/T 808 status bits.
ACC_ON, POSITIONED, LOAD_FULL_BITS = 1 << 0, 1 << 1, 0b11 << 8


class Tape:
    """A truck's true movement: knots (t, x, y) and, per interval, speed, heading and status."""

    def __init__(self, t: float, x: float, y: float) -> None:
        self.t, self.x, self.y = [t], [x], [y]
        self.speed: list[float] = []
        self.heading: list[float] = []
        self.status: list[int] = []
        self._heading = 0.0
        self._since_stop = math.inf  # metres driven since the last stop

    @property
    def now(self) -> float:
        return self.t[-1]

    def _knot(self, t: float, x: float, y: float, speed: float, status: int) -> None:
        self.t.append(t)
        self.x.append(x)
        self.y.append(y)
        self.speed.append(speed)
        self.heading.append(self._heading)
        self.status.append(status)

    def dwell(self, seconds: float, *, loaded: bool, acc: bool = True) -> None:
        if seconds > 0:
            status = POSITIONED | (ACC_ON if acc else 0) | (LOAD_FULL_BITS if loaded else 0)
            self._knot(self.now + seconds, self.x[-1], self.y[-1], 0.0, status)
            self._since_stop = 0.0

    def drive(self, leg: Leg, rng: np.random.Generator, *, loaded: bool) -> None:
        """Drive ``leg`` (its first point is the current position) at its per-piece speeds,
        waiting 8–55 s at half of its signalised vertices, never within 150 m of the last
        stop (so no two stops add up to a longer one)."""
        status = POSITIONED | ACC_ON | (LOAD_FULL_BITS if loaded else 0)
        waits = np.where(
            leg.signals & (rng.random(len(leg.signals)) < 0.5),
            rng.uniform(8, 55, len(leg.signals)),
            0.0,
        ).tolist()
        # plain floats: the same IEEE arithmetic as numpy scalars, without their overhead
        xs, ys = leg.pts[:, 0].tolist(), leg.pts[:, 1].tolist()
        speeds = leg.speeds.tolist()
        last = len(xs) - 1
        for k in range(last):
            dx, dy = xs[k + 1] - xs[k], ys[k + 1] - ys[k]
            length = math.hypot(dx, dy)
            if length < 0.01:
                continue
            self._heading = math.degrees(math.atan2(dx, dy)) % 360
            self._knot(
                self.now + length / (speeds[k] / 3.6), xs[k + 1], ys[k + 1], speeds[k], status
            )
            self._since_stop += length
            if k + 1 < last and waits[k + 1] > 0 and self._since_stop >= 150:
                self.dwell(waits[k + 1], loaded=loaded)


@dataclass
class Leg:
    """A drive as a polyline: per piece speed (km/h), road class and posted limit; per vertex
    a signal flag. Pieces off the network (yard driveways) have class ``yard``."""

    pts: np.ndarray
    speeds: np.ndarray
    classes: np.ndarray
    limits: np.ndarray
    signals: np.ndarray

    @classmethod
    def of(
        cls,
        world: World,
        edges: np.ndarray,
        rng: np.random.Generator,
        head: tuple[float, float] | None = None,
        tail: tuple[float, float] | None = None,
    ) -> Leg:
        """Along network arcs ``edges``, from yard point ``head`` and to ``tail``, at
        0.75–0.9 of the lower of the posted limit, the truck limit and free-flow speed."""
        net = world.net
        limits = world.limit_kmh[edges]
        cap = np.minimum(np.minimum(limits, TRUCK_LIMIT_KMH), net.edge_speed_kmh[edges])
        nodes = np.r_[net.edge_from[edges[:1]], net.edge_to[edges]]
        leg = cls(
            world.polyline(edges),
            cap * rng.uniform(0.75, 0.9, len(edges)),
            world.edge_class[edges].astype(object),
            limits,
            world.signal[nodes],
        )
        if head is not None:
            leg = Leg.point(head).join(leg)
        if tail is not None:
            leg = leg.join(Leg.point(tail))
        return leg

    @classmethod
    def point(cls, xy: tuple[float, float]) -> Leg:
        empty = np.zeros(0)
        return cls(np.array([xy], float), empty, empty.astype(object), empty, np.zeros(1, bool))

    def join(self, other: Leg) -> Leg:
        """This leg, then a straight piece to ``other``'s start (yard speed), then ``other``."""
        if len(self.pts) == 0:
            return other
        if len(other.pts) == 0:
            return self
        gap = math.dist(self.pts[-1], other.pts[0]) > 0.01
        link_speed = np.full(int(gap), 10.0)
        return Leg(
            np.r_[self.pts, other.pts] if gap else np.r_[self.pts, other.pts[1:]],
            np.r_[self.speeds, link_speed, other.speeds],
            np.r_[self.classes, np.array(["yard"] * int(gap), object), other.classes],
            np.r_[self.limits, np.full(int(gap), TRUCK_LIMIT_KMH), other.limits],
            np.r_[self.signals, other.signals] if gap else np.r_[self.signals, other.signals[1:]],
        )

    @property
    def cum(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(self.pts, axis=0).T))])

    @property
    def length(self) -> float:
        return float(self.cum[-1])

    def split(self, s: float) -> int:
        """Insert a vertex at arclength ``s`` (no signal there); return its index."""
        cum = self.cum
        k = int(np.searchsorted(cum, s, side="right") - 1)
        k = min(max(k, 0), len(self.pts) - 2)
        frac = (s - cum[k]) / max(cum[k + 1] - cum[k], 1e-9)
        if frac <= 1e-6:
            return k
        if frac >= 1 - 1e-6:
            return k + 1
        p = self.pts[k] + frac * (self.pts[k + 1] - self.pts[k])
        self.pts = np.insert(self.pts, k + 1, p, axis=0)
        self.speeds = np.insert(self.speeds, k + 1, self.speeds[k])
        self.classes = np.insert(self.classes, k + 1, self.classes[k])
        self.limits = np.insert(self.limits, k + 1, self.limits[k])
        self.signals = np.insert(self.signals, k + 1, False)
        return k + 1

    def part(self, a: int, b: int) -> Leg:
        return Leg(
            self.pts[a : b + 1],
            self.speeds[a:b],
            self.classes[a:b],
            self.limits[a:b],
            self.signals[a : b + 1],
        )

    def drive_time(self) -> float:
        return float(np.sum(np.diff(self.cum) / (self.speeds / 3.6)))

    def crossing(self, fence: Polygon, *, leaving: bool) -> float | None:
        """Arclength where the leg first leaves (or last enters) ``fence``."""
        inside = shapely.contains_xy(fence, self.pts[:, 0], self.pts[:, 1])
        change = np.flatnonzero(inside[:-1] != inside[1:])
        if not change.size:
            return None
        k = int(change[0] if leaving else change[-1])
        piece = LineString(self.pts[k : k + 2])
        hit = piece.intersection(fence.exterior)
        if hit.is_empty:
            return None
        point = hit if hit.geom_type == "Point" else hit.geoms[0]
        return float(self.cum[k] + piece.project(point))


def longest_stretch(leg: Leg, good: np.ndarray, min_m: float) -> tuple[int, int] | None:
    """The longest run of consecutive pieces where ``good`` holds, if ≥ ``min_m`` long."""
    lengths = np.diff(leg.cum)
    best, start, run = (0, 0, 0.0), 0, 0.0
    for k, ok in enumerate([*good.tolist(), False]):
        if ok:
            if run == 0.0:
                start = k
            run += float(lengths[k])
        else:
            if run > best[2]:
                best = (start, k, run)
            run = 0.0
    return (best[0], best[1]) if best[2] >= min_m else None
