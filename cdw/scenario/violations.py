"""The labelled violations and near misses: which truck and load carries each, and the detours and wrong turns they need."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString

from cdw.scenario.bundle import H
from cdw.scenario.fleet import CORRIDOR_HALF_WIDTH_M, Truck
from cdw.scenario.motion import Leg, Tape, longest_stretch
from cdw.scenario.world import Place

TRACK_CODES = (
    "ROUTE_DEVIATION",
    "LONG_STOP",
    "SUSPECTED_DUMPING",
    "WRONG_DESTINATION",
    "SPEEDING",
    "OUT_OF_HOURS",
    "RESTRICTED_ZONE",
    "SIGNAL_GAP",
    "TAMPER_SUSPECTED",
)

MANIFEST_CODES = (
    "NO_RECEIPT",
    "UNMANIFESTED_TRIP",
    "RECEIPT_WITHOUT_TRIP",
    "QUANTITY_DISCREPANCY",
    "OVERLOAD",
    "UNAUTHORISED_VEHICLE",
)


ALL_CODES = TRACK_CODES + MANIFEST_CODES


class Violations:
    """Plans the injected violations and near misses, and records their labels (part of ``DayBuilder``)."""

    def fast_stretch(self, leg: Leg) -> tuple[int, int] | None:
        good = np.isin(leg.classes, ["motorway", "trunk", "primary"]) & (leg.limits >= 60)
        return longest_stretch(leg, good, 1500.0)

    def slow_stretch(self, leg: Leg) -> tuple[int, int] | None:
        """≥ 800 m posted 30–40 with no road posted higher within 60 m."""
        good = (leg.limits >= 30) & (leg.limits <= 40) & (leg.classes != "yard")
        found = longest_stretch(leg, good, 800.0)
        if found is None:
            return None
        a, b = found
        near = self.world.segments_near(LineString(leg.pts[a : b + 1]).buffer(60))
        arcs = np.flatnonzero(np.isin(self.world.segment, near))
        if np.any(self.world.limit_kmh[arcs] > leg.limits[a:b].max()):
            return None
        return found

    def assign(self) -> None:
        """Pick (truck, cycle) slots for each injected violation and near miss; one per slot."""
        rng = self.rng
        slots = [(t.index, c) for t in self.trucks for c in range(t.n_cycles)]
        slots = [slots[k] for k in rng.permutation(len(slots))]
        self.plan: dict[tuple[int, int], str] = {}
        busy: Counter[int] = Counter()
        taken: set[tuple[int, int]] = set()
        loaded_legs = [self.leg(*self.site_fac(t)) for t in self.trucks]
        # a leg's geometry, classes and limits are its permit's (only its speeds are drawn)
        one_leg = {t.permit: leg for t, leg in zip(self.trucks, loaded_legs, strict=True)}
        fast_permit = {p: self.fast_stretch(leg) is not None for p, leg in one_leg.items()}
        slow_permit = {p: self.slow_stretch(leg) is not None for p, leg in one_leg.items()}
        fast = [fast_permit[t.permit] for t in self.trucks]
        via_near = [bool(self.vias(t)) for t in self.trucks]
        slow = [slow_permit[t.permit] for t in self.trucks]

        def approach_s(ti: int, c: int) -> float:
            t = self.trucks[ti]
            site, fac = self.site_fac(t)
            return self.leg_time(t.depot if c == 0 else fac, site)

        def loaded_s(ti: int) -> float:
            return self.leg_time(*self.site_fac(self.trucks[ti]))

        rules: list[tuple[str, Any]] = [
            (
                "TAMPER_SUSPECTED",
                lambda ti, c: c >= 1 and max(approach_s(ti, c), loaded_s(ti)) >= 15 * 60,
            ),
            ("SPEEDING", lambda ti, c: fast[ti] or slow[ti]),
            (
                "SUSPECTED_DUMPING",
                lambda ti, c: c + 1 < self.trucks[ti].n_cycles and (ti, c + 1) not in taken,
            ),
            (
                "ROUTE_DEVIATION",
                lambda ti, c: loaded_legs[ti].length >= 4000 and via_near[ti],
            ),
            ("WRONG_DESTINATION", lambda ti, c: True),
            ("LONG_STOP", lambda ti, c: True),
            ("RESTRICTED_ZONE", lambda ti, c: True),
            ("SIGNAL_GAP", lambda ti, c: approach_s(ti, c) >= 6 * 60),
            ("NO_RECEIPT", lambda ti, c: True),
            ("UNMANIFESTED_TRIP", lambda ti, c: True),
            ("QUANTITY_DISCREPANCY", lambda ti, c: True),
            ("OVERLOAD", lambda ti, c: True),
            ("NEAR:SPEEDING", lambda ti, c: fast[ti]),
            ("NEAR:ROUTE_DEVIATION", lambda ti, c: loaded_legs[ti].length >= 3000),
            ("NEAR:SUSPECTED_DUMPING", lambda ti, c: True),
            ("NEAR:LONG_STOP", lambda ti, c: True),
            ("NEAR:SIGNAL_GAP", lambda ti, c: approach_s(ti, c) >= 6 * 60),
            ("NEAR:QUANTITY_DISCREPANCY", lambda ti, c: True),
            ("NEAR:OVERLOAD", lambda ti, c: True),
            ("NEAR:NO_RECEIPT", lambda ti, c: True),
        ]
        fallbacks = {
            "TAMPER_SUSPECTED": lambda ti, c: c >= 1,
            "SPEEDING": lambda ti, c: True,
            "SIGNAL_GAP": lambda ti, c: True,
            "ROUTE_DEVIATION": lambda ti, c: loaded_legs[ti].length >= 4000,
        }
        for code, rule in rules:
            for attempt in (rule, fallbacks.get(code)):
                if attempt is None:
                    continue
                free = [s for s in slots if s not in taken and attempt(*s)]
                free.sort(key=lambda s: busy[s[0]])
                picked = free[: self.per_code - sum(v == code for v in self.plan.values())]
                for s in picked:
                    self.plan[s] = code
                    taken.add(s)
                    busy[s[0]] += 1
                    if code == "SUSPECTED_DUMPING":
                        taken.add((s[0], s[1] + 1))
                if sum(v == code for v in self.plan.values()) >= self.per_code:
                    break
        by_busy = sorted(
            range(self.n_trucks), key=lambda ti: (busy[ti], int(rng.integers(1 << 30)))
        )
        for ti in by_busy[: self.per_code]:
            self.trucks[ti].ooh = True
        rest = [ti for ti in by_busy if not self.trucks[ti].ooh]
        self.unauthorised = rest[: self.per_code]
        self.phantom = rest[self.per_code : 2 * self.per_code] or rest[: self.per_code]
        for ti in self.unauthorised:
            self.trucks[ti].unauthorised = True
            lapsed = self.day - timedelta(days=int(rng.integers(5, 90)))
            # after its permit was approved (as of its first valid day), before the day
            approved = date.fromisoformat(self.permits[self.trucks[ti].permit]["valid_from"])
            self.vehicles[ti]["inspection_valid_until"] = max(lapsed, approved).isoformat()
        # near misses on the registry and the clock: an inspection that runs out today,
        # and a first load leaving within minutes of the permit's opening hour
        lawful = [ti for ti in rest[2 * self.per_code :] if not self.trucks[ti].unauthorised]
        self.expiring = lawful[: self.per_code]
        for ti in self.expiring:
            self.vehicles[ti]["inspection_valid_until"] = self.day.isoformat()
            self.near(
                "UNAUTHORISED_VEHICLE",
                self.trucks[ti],
                7 * H,
                20 * H,
                "车辆审验有效期至当天，仍有效 / inspection valid until today (still valid)",
            )
        self.early = lawful[self.per_code : 2 * self.per_code]

    def label(self, code: str, truck: Truck, start: float, end: float, note: str) -> None:
        self.truth.append(
            {"code": code, "plate": truck.plate, "start": start, "end": end, "note": note}
        )

    def near(self, code: str, truck: Truck, start: float, end: float, note: str) -> None:
        """A near miss: just under ``code``'s threshold; a flag of ``code`` on it is false."""
        self.truth.append(
            {
                "code": code,
                "plate": truck.plate,
                "start": start,
                "end": end,
                "note": note,
                "near_miss": True,
            }
        )

    def detour(self, truck: Truck, site: Place, facility: Place) -> np.ndarray | None:
        """The permit path with its middle replaced by a real alternative: through another
        place's fence drawn across a road (every other detour, when one is near), or the
        fastest path once every road within 70 m of the route is made four times dearer. Kept only when it
        leaves the corridor by ≥ 150 m."""
        world = self.world
        path = self.permit_edges[truck.permit]
        cum = np.cumsum(world.net.edge_length_m[path])
        ia = int(np.searchsorted(cum, cum[-1] * 0.3))
        ib = int(np.searchsorted(cum, cum[-1] * 0.7))
        a, b = int(world.net.edge_to[path[ia]]), int(world.net.edge_to[path[ib]])
        route = self.route_lines[truck.permit]
        dearer = world.lawful_s.copy()
        beside = world.segments_near(route.buffer(CORRIDOR_HALF_WIDTH_M + 20))
        dearer[np.isin(world.segment, beside)] *= 4
        options = []
        self.detours += 1
        if self.detours % 2:
            options += [(p.node,) for p in self.vias(truck)]
        options.append(())
        for via in options:
            stops = [a, *via, b]
            pieces = [world.path(u, v, cost=dearer) for u, v in zip(stops, stops[1:], strict=False)]
            if any(p is None for p in pieces):
                continue
            edges = np.r_[path[: ia + 1], *pieces, path[ib + 1 :]]
            xy = world.polyline(edges)
            far = shapely.distance(shapely.points(xy[:, 0], xy[:, 1]), route)
            if far.max() >= 150 and float(world.net.edge_length_m[edges].sum()) <= 2.5 * cum[-1]:
                return edges
        return None

    def vias(self, truck: Truck) -> list[Place]:
        """Yards drawn across a road within 3 km of the truck's permit route (not its own)."""
        if truck.permit not in self.vias_of_permit:
            route = self.route_lines[truck.permit]
            own = self.site_fac(truck)
            self.vias_of_permit[truck.permit] = [
                p
                for p in self.places
                if p.kind == "roadside" and p not in own and p.fence.distance(route) < 3000
            ]
        return self.vias_of_permit[truck.permit]

    def wrong_turn(self, truck: Truck, tape: Tape, leg: Leg, site: Place, facility: Place) -> None:
        """A wrong turn 75–135 m into a real side road and back: off the corridor for at most
        150 m and 45 s, under the deviation's 60 s and 200 m (a near miss)."""
        world, rng = self.world, self.rng
        path = self.permit_edges[truck.permit]
        route = self.route_lines[truck.permit]
        nodes = world.net.edge_to[path]
        on_route = set(np.r_[world.net.edge_from[path[:1]], nodes].tolist())
        order = rng.permutation(np.arange(len(nodes) // 10, 9 * len(nodes) // 10))
        for i in order.tolist():
            j = int(nodes[i])
            for first in world.neighbours(j).tolist():
                if first in on_route:
                    continue
                walk, prev, cur = [j, first], j, first
                while True:
                    d = route.distance(shapely.Point(world.xy(cur)))
                    if d >= 100 or len(walk) > 12:
                        break
                    nxt = [m for m in world.neighbours(cur).tolist() if m != prev]
                    if not nxt or nxt[0] in on_route:
                        break
                    prev, cur = cur, nxt[0]
                    walk.append(cur)
                side = np.array([world.xy(n) for n in walk])
                far = route.distance(shapely.Point(side[-1]))
                length = float(np.hypot(*np.diff(side, axis=0).T).sum())
                if not 75 <= far <= 135 or length > 220:
                    continue
                if any(p.fence.intersects(LineString(side)) for p in self.places):
                    continue
                there, back = world.arcs(walk), world.arcs(walk[::-1])
                if there is None or back is None:
                    continue  # a two-way side road only: the truck turns round in it
                out, back_leg = Leg.of(world, there, rng), Leg.of(world, back, rng)
                # off the corridor both ways for at most 150 m and 45 s with the U-turn
                line = LineString(side)
                step = np.linspace(0, line.length, max(int(line.length / 5), 2))
                beyond = shapely.distance(shapely.line_interpolate_point(line, step), route) > 50
                off_m = 2 * float(np.diff(step).sum() * beyond[1:].mean())
                slowest = min(out.speeds.min(), back_leg.speeds.min())
                if off_m > 150 or off_m / (slowest / 3.6) + 15 > 45:
                    continue
                x, y = world.xy(j)
                k = int(np.argmin(np.hypot(leg.pts[:, 0] - x, leg.pts[:, 1] - y)))
                self.drive(tape, leg.part(0, k), loaded=True, leave=site)
                start = tape.now
                tape.drive(out, rng, loaded=True)
                tape.dwell(float(rng.uniform(8, 15)), loaded=True)
                tape.drive(back_leg, rng, loaded=True)
                self.near(
                    "ROUTE_DEVIATION",
                    truck,
                    start,
                    tape.now,
                    f"重车误入支路约 {far:.0f} 米后掉头返回核准路线（偏离不足 60 秒、200 米）/ "
                    f"wrong turn ~{far:.0f} m into a side road and back, under 60 s and 200 m off the corridor",
                )
                self.drive(tape, leg.part(k, len(leg.pts) - 1), loaded=True, enter=facility)
                return
        self.drive(tape, leg, loaded=True, leave=site, enter=facility)
