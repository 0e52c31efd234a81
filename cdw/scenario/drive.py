"""One truck's day driven onto a tape: approaches, loads, loaded legs with their injected violations, tips."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from cdw.scenario.bundle import H
from cdw.scenario.fleet import CORRIDOR_HALF_WIDTH_M, PERMIT_HOURS, LoadedLeg, Truck
from cdw.scenario.motion import Leg, Tape, longest_stretch
from cdw.scenario.world import TRUCK_LIMIT_KMH, Place


class Driving:
    """Drives each truck's day (part of ``DayBuilder``)."""

    def drive_truck(self, truck: Truck) -> tuple[Tape, list[tuple[float, float, str]]]:
        """The truck's day as a Tape, and its dropout windows (from, to, reason)."""
        rng = self.rng
        site, facility = self.site_fac(truck)
        tape = Tape(truck.start_s, *truck.depot.spot)
        windows: list[tuple[float, float, str]] = []
        tape.dwell(float(rng.uniform(3, 8)) * 60, loaded=False, acc=False)
        tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
        at: Place = truck.depot
        for c in range(truck.n_cycles):
            code = self.plan.get((truck.index, c))
            if at is not site:
                self._approach(truck, tape, at, site, code, windows)
            earliest = 7.05 * H
            if c == 0 and truck.index in self.early:
                earliest = 7 * H + float(rng.uniform(10, 90))
            self._load(tape, earliest=earliest)
            if c == 0 and truck.index in self.early:
                self.near(
                    "OUT_OF_HOURS",
                    truck,
                    tape.now - 60,
                    tape.now + 600,
                    f"首车于核准时段 {PERMIT_HOURS[0]} 开始后几分钟内出场 / first load leaves minutes after the permit's opening hour",
                )
            at = self._loaded_leg(truck, tape, c, site, facility, code, windows)
            self._tip(tape)
        self.drive(tape, self.leg(at, truck.depot), loaded=False, leave=at)
        if truck.ooh:
            tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
            tape.dwell(
                max(22.0 * H + float(rng.uniform(0, 600)) - tape.now, 600), loaded=False, acc=False
            )
            tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
            self.drive(tape, self.leg(truck.depot, site), loaded=False, enter=site)
            self._load(tape, earliest=0)
            self._loaded_leg(truck, tape, truck.n_cycles, site, facility, "OUT_OF_HOURS", windows)
            self._tip(tape)
            self.drive(tape, self.leg(facility, truck.depot), loaded=False, leave=facility)
        tape.dwell(float(rng.uniform(1, 3)) * 60, loaded=False)
        tape.dwell(float(rng.uniform(2, 5)) * 60, loaded=False, acc=False)
        return tape, windows

    def drive(
        self,
        tape: Tape,
        leg: Leg,
        *,
        loaded: bool,
        leave: Place | None = None,
        enter: Place | None = None,
        stops: list[tuple[float, Any]] | None = None,
    ) -> None:
        """Drive ``leg``, waiting at the gate (on the fence line) when leaving ``leave``
        (wheel wash and gate check) and entering ``enter`` (gate check, weighbridge), and
        calling each ``(arclength, action)`` of ``stops`` where the truck gets there."""
        rng = self.rng
        events = list(stops or [])
        if leave is not None and leave in self.places:
            s = leg.crossing(leave.fence, leaving=True)
            if s is not None:
                wait = float(rng.uniform(0.5, 2.5)) * 60
                s -= float(rng.uniform(0.0, 8.0))
                events.append((s, lambda: tape.dwell(wait, loaded=loaded)))
        if enter is not None and enter in self.places:
            s = leg.crossing(enter.fence, leaving=False)
            if s is not None:
                wait = float(rng.uniform(0.3, 2.0)) * 60
                s += float(rng.uniform(0.0, 8.0))
                events.append((s, lambda: tape.dwell(wait, loaded=loaded)))
        events.sort(key=lambda e: e[0])
        for s, _ in events:
            leg.split(min(max(s, 0.0), leg.length))
        cum = leg.cum
        for s, _ in events:  # no signal wait just before a stop either
            leg.signals[(cum > s - 150) & (cum <= s)] = False
        k0 = 0
        for s, action in events:
            k = int(np.argmin(np.abs(cum - s)))
            if k > k0:
                tape.drive(leg.part(k0, k), rng, loaded=loaded)
                k0 = k
            action()
        tape.drive(leg.part(k0, len(leg.pts) - 1), rng, loaded=loaded)

    def _load(self, tape: Tape, earliest: float) -> None:
        tape.dwell(max(float(self.rng.uniform(5, 15)) * 60, earliest - tape.now), loaded=False)

    def _tip(self, tape: Tape) -> None:
        tape.dwell(float(self.rng.uniform(2, 4)) * 60, loaded=True)
        tape.dwell(float(self.rng.uniform(3, 6)) * 60, loaded=False)

    def _roadside_s(self, leg: Leg, lo: float, hi: float) -> float:
        """An arclength in [lo, hi] of ``leg`` at least 150 m from every fence."""
        for _ in range(20):
            s = float(self.rng.uniform(lo, hi))
            x, y = np.interp(s, leg.cum, leg.pts[:, 0]), np.interp(s, leg.cum, leg.pts[:, 1])
            p = shapely.Point(x, y)
            if all(place.fence.distance(p) >= 150 for place in self.places) and (
                self.zone_poly.distance(p) >= 150
            ):
                return s
        return s

    def _approach(
        self,
        truck: Truck,
        tape: Tape,
        origin: Place,
        site: Place,
        code: str | None,
        windows: list[tuple[float, float, str]],
    ) -> None:
        """The empty drive to the site, carrying any injected approach-leg violation."""
        rng, world = self.rng, self.world
        if code == "RESTRICTED_ZONE":
            inside = np.flatnonzero(
                world.in_main
                & shapely.contains_xy(self.zone_poly.buffer(-150), world.x, world.y)
                & (world.degree >= 2)
            )
            w = int(rng.choice(inside))
            e1 = world.path(origin.node, w, lawful=False)
            e2 = world.path(w, site.node, lawful=False)
            leg = self.leg(origin, site, np.r_[e1, e2])
            self.drive(tape, leg, loaded=False, leave=origin, enter=site)
            return
        leg = self.leg(origin, site)
        if code in ("LONG_STOP", "NEAR:LONG_STOP"):
            s = self._roadside_s(leg, leg.length * 0.3, leg.length * 0.7)
            minutes = (15, 25) if code == "LONG_STOP" else (7.5, 8.5)
            box: list[float] = []

            def park() -> None:
                box.append(tape.now)
                tape.dwell(float(rng.uniform(*minutes)) * 60, loaded=False)
                box.append(tape.now)

            self.drive(tape, leg, loaded=False, leave=origin, enter=site, stops=[(s, park)])
            if code == "LONG_STOP":
                self.label(
                    code,
                    truck,
                    box[0],
                    box[1],
                    "空车在路边停留 15–25 分钟 / empty truck parked at the roadside for 15-25 min",
                )
            else:
                self.near(
                    "LONG_STOP",
                    truck,
                    box[0],
                    box[1],
                    "空车路边停留约 8 分钟（低于 10 分钟阈值）/ empty roadside stop of ~8 min, under the 10 min threshold",
                )
        elif code in ("SIGNAL_GAP", "NEAR:SIGNAL_GAP"):
            crawl = float(rng.uniform(700, 850)) if code == "SIGNAL_GAP" else 0.0
            a = leg.split(max(leg.length * 0.5 - crawl / 2, 50.0))
            # the dropout lies inside the crawl, a fix's interval (at most 1.2 of the
            # nominal one) from each end, so the fixes around it are crawling too and
            # lie at most the crawl apart, well under tamper's 1 km
            margin = 1.25 * self.interval_s
            if code == "SIGNAL_GAP":
                b = leg.split(leg.cum[a] + crawl)
                crawl_s = float(rng.uniform(330, 420)) + 2 * margin
                leg.speeds[a:b] = 3.6 * (leg.cum[b] - leg.cum[a]) / crawl_s
                leg.signals[a + 1 : b] = False
                gap = None
            else:
                gap = float(rng.uniform(0.8, 0.93)) * 300
                b = a
            self.drive(tape, leg.part(0, a), loaded=False, leave=origin)
            start = tape.now
            if gap is None:
                tape.drive(leg.part(a, b), rng, loaded=False)
                windows.append((start + margin, tape.now - margin, "SIGNAL_GAP"))
            else:
                windows.append((start, start + gap, "NEAR:SIGNAL_GAP"))
            self.drive(tape, leg.part(b, len(leg.pts) - 1), loaded=False, enter=site)
        elif code == "TAMPER_SUSPECTED" and leg.drive_time() >= 13 * 60:
            self._tamper(tape, leg, windows, loaded=False, origin=origin, end=site)
        else:
            self.drive(tape, leg, loaded=False, leave=origin, enter=site)

    def _tamper(
        self,
        tape: Tape,
        leg: Leg,
        windows: list[tuple[float, float, str]],
        *,
        loaded: bool,
        origin: Place,
        end: Place,
    ) -> None:
        """Drive ``leg`` with the terminal cut (power-cut alarm, then 10–11 min of silence)."""
        a = leg.split(min(leg.length * 0.15, 1000.0))
        self.drive(tape, leg.part(0, a), loaded=loaded, leave=origin)
        tape.dwell(1.0, loaded=loaded)  # a knot: the window starts where the drive resumes
        start = tape.now
        windows.append((start, start + float(self.rng.uniform(600, 660)), "TAMPER_SUSPECTED"))
        self.drive(tape, leg.part(a, len(leg.pts) - 1), loaded=loaded, enter=end)

    def _loaded_leg(
        self,
        truck: Truck,
        tape: Tape,
        cycle: int,
        site: Place,
        facility: Place,
        code: str | None,
        windows: list[tuple[float, float, str]],
    ) -> Place:
        """The loaded drive from the site, with any injected violation; returns where it ends."""
        rng = self.rng
        category = self.permits[truck.permit]["categories"][0]
        depart = tape.now
        leg = self.leg(site, facility, self.permit_edges[truck.permit])
        record = LoadedLeg(
            truck,
            truck.permit,
            self.facilities.index(facility),
            category,
            depart,
            None,
            None,
            cycle,
        )
        end: Place = facility
        drive = {"leave": site, "enter": facility}
        if code == "SUSPECTED_DUMPING":
            s = self._roadside_s(leg, leg.length - 1600, leg.length - 700)
            k = leg.split(s)
            self.drive(tape, leg.part(0, k), loaded=True, leave=site)
            start = tape.now
            tape.dwell(float(rng.uniform(2.5, 4.5)) * 60, loaded=True)
            tape.dwell(float(rng.uniform(2.5, 4.5)) * 60, loaded=False)
            sensor = "载重由满变空" if truck.load_sensor else "无载重传感器"
            self.label(
                "SUSPECTED_DUMPING",
                truck,
                start,
                tape.now,
                f"重车在消纳场围栏外约 1 公里处停留 5–9 分钟（{sensor}），随后返回工地 / "
                "loaded stop ~1 km outside the facility fence, then back to the site",
            )
            self.drive(tape, self._back_to_site(truck, leg, k, site), loaded=False, enter=site)
            end = site
        elif code == "WRONG_DESTINATION":
            others = [f for f in self.facilities if f is not facility]
            times = [self.leg_time(site, f) for f in others]
            end = others[int(np.argmin(times))]
            record.facility = self.facilities.index(end)
            self.drive(tape, self.leg(site, end), loaded=True, leave=site, enter=end)
            record.arrive = tape.now
            self.label(
                "WRONG_DESTINATION",
                truck,
                depart,
                tape.now,
                f"核准消纳场为「{facility.name}」，实际卸于「{end.name}」 / tipped at {end.name}, permit names {facility.name}",
            )
        elif code == "ROUTE_DEVIATION":
            edges = self.detour(truck, site, facility)
            detour = self.leg(site, facility, edges) if edges is not None else leg
            self.drive(tape, detour, loaded=True, **drive)
            record.arrive = tape.now
        elif code == "NEAR:ROUTE_DEVIATION":
            self.wrong_turn(truck, tape, leg, site, facility)
            record.arrive = tape.now
        elif code in ("SPEEDING", "NEAR:SPEEDING"):
            slow = self.slow_stretch(leg) if code == "SPEEDING" and truck.index % 2 else None
            found = (
                slow or self.fast_stretch(leg) or longest_stretch(leg, leg.classes != "yard", 600)
            )
            a, b = found
            b = a + 1 + int(np.searchsorted(np.cumsum(np.diff(leg.cum)[a:b]), 2500.0))
            b = min(b, len(leg.speeds))
            limit = float(leg.limits[a:b].min())
            if code == "NEAR:SPEEDING":
                leg.speeds[a:b] = np.minimum(limit, TRUCK_LIMIT_KMH) * rng.uniform(0.94, 0.96)
                what = f"{leg.speeds[a]:.0f} km/h，限速 {min(limit, TRUCK_LIMIT_KMH):.0f}"
            elif slow is not None:
                leg.speeds[a:b] = limit + rng.uniform(14, 20, b - a)
                what = f"{leg.speeds[a]:.0f} km/h on a road posted {limit:.0f}"
            else:
                leg.speeds[a:b] = max(limit, TRUCK_LIMIT_KMH) + rng.uniform(12, 20, b - a)
                what = f"{leg.speeds[a]:.0f} km/h on a {leg.classes[a]} posted {limit:.0f}"
            leg.signals[a + 1 : b] = False
            self.drive(tape, leg.part(0, a), loaded=True, leave=site)
            start = tape.now
            tape.drive(leg.part(a, b), rng, loaded=True)
            if code == "SPEEDING":
                self.label(code, truck, start, tape.now, f"重车超速 / loaded truck at {what}")
            else:
                self.near(
                    "SPEEDING",
                    truck,
                    start,
                    tape.now,
                    f"略低于限速行驶 / just under the limit: {what}",
                )
            self.drive(tape, leg.part(b, len(leg.pts) - 1), loaded=True, enter=facility)
            record.arrive = tape.now
        elif code == "NEAR:SUSPECTED_DUMPING":
            s = self._roadside_s(leg, leg.length * 0.3, leg.length * 0.7)
            box: list[float] = []

            def wait() -> None:
                box.append(tape.now)
                tape.dwell(float(rng.uniform(0.75, 0.87)) * 180, loaded=True)
                box.append(tape.now)

            self.drive(tape, leg, loaded=True, stops=[(s, wait)], **drive)
            record.arrive = tape.now
            self.near(
                "SUSPECTED_DUMPING",
                truck,
                box[0],
                box[1],
                "重车路边停留约 2.5 分钟（低于 3 分钟阈值），载重不变 / loaded roadside stop of ~2.5 min, under the 3 min threshold",
            )
        elif code == "TAMPER_SUSPECTED" and not self._approach_long_enough(truck, cycle):
            self._tamper(tape, leg, windows, loaded=True, origin=site, end=facility)
            record.arrive = tape.now
        else:
            self.drive(tape, leg, loaded=True, **drive)
            record.arrive = tape.now
            if code == "OUT_OF_HOURS":
                self.label(
                    "OUT_OF_HOURS",
                    truck,
                    depart,
                    tape.now,
                    f"核准时段 {PERMIT_HOURS[0]}-{PERMIT_HOURS[1]}，夜间重车运输 / loaded run at night outside the permit's hours",
                )
        record.tip_end = None if record.arrive is None else record.arrive + 6 * 60
        self.loaded_legs.append(record)
        return end

    def _back_to_site(self, truck: Truck, leg: Leg, k: int, site: Place) -> Leg:
        """From vertex ``k`` of the loaded leg ``leg`` (a stop on the permit route) back to
        ``site`` the way the truck came: on to the route's next junction, then the fastest
        lawful path with roads off the route's corridor four times dearer (not the route
        reversed: one of its carriageways may be one-way)."""
        world = self.world
        path = self.permit_edges[truck.permit]
        nodes = np.r_[world.net.edge_from[path[:1]], world.net.edge_to[path]]
        corridor = world.segments_near(self.route_lines[truck.permit].buffer(CORRIDOR_HALF_WIDTH_M))
        cost = world.lawful_s * np.where(np.isin(world.segment, corridor), 1.0, 4.0)
        for j in range(k + 1, len(leg.pts)):
            gap = np.hypot(world.x[nodes] - leg.pts[j, 0], world.y[nodes] - leg.pts[j, 1])
            if gap.min() < 0.01:
                turn = int(nodes[np.argmin(gap)])
                back = world.path(turn, site.node, cost=cost)
                return leg.part(k, j).join(Leg.of(world, back, self.rng, tail=site.spot))
        raise AssertionError("a stop on the permit route has a junction after it")

    def _approach_long_enough(self, truck: Truck, cycle: int) -> bool:
        site, fac = self.site_fac(truck)
        origin = truck.depot if cycle == 0 else fac
        return self.leg_time(origin, site) / 1.3 >= 13 * 60
