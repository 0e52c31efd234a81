"""GPS fixes sampled off a truck's tape (noise, multipath, dropouts, alarms), and the labels read off the true positions."""

from __future__ import annotations

import numpy as np
import polars as pl
import shapely

from cdw.scenario.bundle import DAY_S
from cdw.scenario.fleet import CORRIDOR_HALF_WIDTH_M, Truck
from cdw.scenario.motion import LOAD_FULL_BITS, POSITIONED, Tape

# JT/T 808 alarm bit.
ALARM_MAIN_POWER_CUT = 1 << 8


class GpsSampling:
    """Samples the fixes of each truck's day (part of ``DayBuilder``)."""

    def sample(
        self, truck: Truck, tape: Tape, windows: list[tuple[float, float, str]]
    ) -> pl.DataFrame:
        rng = self.rng
        kt, kx, ky = np.array(tape.t), np.array(tape.x), np.array(tape.y)
        step = self.interval_s * rng.uniform(
            0.8, 1.2, int((kt[-1] - kt[0]) / (0.8 * self.interval_s)) + 2
        )
        ts = np.unique(np.round(kt[0] + np.concatenate([[0.0], np.cumsum(step)])))
        ts = ts[ts <= kt[-1]]
        drop = np.zeros(len(ts), bool)
        alarm = np.zeros(len(ts), np.uint32)
        for lo, hi, why in windows:
            drop |= (ts > lo) & (ts < hi)
            if why == "TAMPER_SUSPECTED":
                before = np.flatnonzero(ts <= lo)[-2:]
                alarm[before] = ALARM_MAIN_POWER_CUT
        for _ in range(int(rng.poisson(1.5))):
            lo = float(rng.uniform(kt[0] + 600, kt[-1] - 600))
            hi = lo + float(rng.uniform(25, 100))
            if all(
                hi + 3 * self.interval_s < a or lo - 3 * self.interval_s > b for a, b, _ in windows
            ):
                drop |= (ts > lo) & (ts < hi)
        ts, alarm = ts[~drop], alarm[~drop]
        x, y = np.interp(ts, kt, kx), np.interp(ts, kt, ky)
        seg = np.clip(np.searchsorted(kt, ts, side="right") - 1, 0, len(tape.speed) - 1)
        speed = np.array(tape.speed)[seg]
        moving = speed > 0
        speed = np.where(
            moving, np.maximum(speed + np.clip(rng.normal(0, 1.0, len(ts)), -2, 2), 0.5), 0.0
        )
        heading = (
            np.array(tape.heading)[seg] + np.where(moving, rng.normal(0, 3, len(ts)), 0)
        ) % 360
        status = np.array(tape.status, np.uint32)[seg]
        if not truck.load_sensor:
            status &= ~np.uint32(LOAD_FULL_BITS)
        # Gaussian noise, and one fix in a hundred thrown three times as far (multipath)
        sigma = self.noise_m * np.where(rng.random(len(ts)) < 0.01, 3.0, 1.0)
        noisy_x = x + rng.normal(0, 1, len(ts)) * sigma
        noisy_y = y + rng.normal(0, 1, len(ts)) * sigma
        lon, lat = self.world.lonlat(noisy_x, noisy_y)
        self._truth_from_samples(truck, ts, x, y, alarm, windows)
        return pl.DataFrame(
            {
                "plate": pl.repeat(truck.plate, len(ts), eager=True),
                "t": ts,
                "lon": np.round(lon, 6),
                "lat": np.round(lat, 6),
                "speed_kmh": np.round(speed, 1),
                "heading": np.round(heading).astype(np.int64) % 360,
                "status": status,
                "alarm": alarm,
            }
        )

    def parked(self, truck: Truck, working: pl.DataFrame) -> pl.DataFrame:
        """The truck's whole local day: ``working`` (its fixes from leaving the depot to
        coming back) with the depot fixes before and after it, from 00:00 to 24:00, one every
        ``interval_s`` ± 20 % as while driving. Parked with the engine off, the terminal
        reports positioned (status bit 1), ACC off, no load, speed 0, the last heading, and
        the day's GPS noise around the depot spot (one fix in a hundred three times as far).
        Drawn from the truck's own generator, so the working fixes and the labels are those
        of the same day without ``full_day``."""
        rng = np.random.default_rng([self.seed, truck.index])
        first, last = float(working["t"][0]), float(working["t"][-1])
        n_steps = int(DAY_S / (0.8 * self.interval_s)) + 2
        before = first - np.cumsum(self.interval_s * rng.uniform(0.8, 1.2, n_steps))
        after = last + np.cumsum(self.interval_s * rng.uniform(0.8, 1.2, n_steps))
        before = np.round(before[before >= 0])[::-1]
        after = np.round(after[after < DAY_S])
        ts = np.r_[before, after]
        sigma = self.noise_m * np.where(rng.random(len(ts)) < 0.01, 3.0, 1.0)
        east, north = rng.normal(0, 1, (2, len(ts))) * sigma
        # metres to degrees at the depot spot (a parked truck's noise spans metres)
        sx, sy = truck.depot.spot
        lon, lat = self.world.lonlat(np.array([sx, sx + 1, sx]), np.array([sy, sy, sy + 1]))
        n_before, n = len(before), len(ts) + working.height

        def around(name: str, parked: np.ndarray) -> np.ndarray:
            return np.concatenate([parked[:n_before], working[name].to_numpy(), parked[n_before:]])

        heading = working["heading"]
        return pl.DataFrame(
            {
                "plate": pl.repeat(truck.plate, n, eager=True),
                "t": around("t", ts),
                "lon": around(
                    "lon",
                    np.round(lon[0] + east * (lon[1] - lon[0]) + north * (lon[2] - lon[0]), 6),
                ),
                "lat": around(
                    "lat",
                    np.round(lat[0] + east * (lat[1] - lat[0]) + north * (lat[2] - lat[0]), 6),
                ),
                "speed_kmh": around("speed_kmh", np.zeros(len(ts))),
                "heading": around(
                    "heading", np.where(np.arange(len(ts)) < n_before, heading[0], heading[-1])
                ),
                "status": around("status", np.full(len(ts), POSITIONED, np.uint32)),
                "alarm": around("alarm", np.zeros(len(ts), np.uint32)),
            }
        )

    def _truth_from_samples(
        self,
        truck: Truck,
        ts: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        alarm: np.ndarray,
        windows: list[tuple[float, float, str]],
    ) -> None:
        """Labels read off the true positions: gaps, zone entries, off-route stretches,
        loaded passes through another facility's fence."""
        dt = np.diff(ts)
        jump = np.hypot(np.diff(x), np.diff(y))
        for i in np.flatnonzero(dt >= 300).tolist():
            tamper = jump[i] >= 1000 or bool(alarm[i])
            note = (
                f"疑似拆除车机：断电告警后 {dt[i] / 60:.1f} 分钟无定位，两端相距 {jump[i] / 1000:.1f} 公里 / "
                f"main power cut alarm, then no fix for {dt[i] / 60:.1f} min over {jump[i] / 1000:.1f} km"
                if tamper
                else f"低速行驶中 {dt[i] / 60:.1f} 分钟无定位，两端相距 {jump[i]:.0f} 米 / no fix for {dt[i] / 60:.1f} min while crawling {jump[i]:.0f} m"
            )
            self.label("SIGNAL_GAP", truck, ts[i], ts[i + 1], note)
            if tamper:
                self.label("TAMPER_SUSPECTED", truck, ts[i], ts[i + 1], note)
            else:
                self.near(
                    "TAMPER_SUSPECTED",
                    truck,
                    ts[i],
                    ts[i + 1],
                    f"中断两端相距 {jump[i]:.0f} 米（不足 1 公里）/ the gap's ends lie {jump[i]:.0f} m apart, under 1 km",
                )
        for lo, _, why in windows:
            if why == "NEAR:SIGNAL_GAP":
                i = int(np.searchsorted(ts, lo, side="right")) - 1
                if 0 <= i < len(dt) and dt[i] < 300:
                    self.near(
                        "SIGNAL_GAP",
                        truck,
                        ts[i],
                        ts[i + 1],
                        f"{dt[i] / 60:.1f} 分钟无定位（低于 5 分钟阈值）/ no fix for {dt[i] / 60:.1f} min, under 5 min",
                    )
        inside = shapely.contains_xy(self.zone_poly, x, y)
        for a, b in true_runs(inside):
            self.label(
                "RESTRICTED_ZONE",
                truck,
                ts[a],
                ts[b - 1],
                f"驶入{self.zone_record['name']} / drove through the water-source protection area",
            )
        for leg in [r for r in self.loaded_legs if r.truck is truck and r.arrive is not None]:
            sel = (ts >= leg.depart) & (ts <= leg.arrive)
            idx = np.flatnonzero(sel)
            if len(idx) < 2:
                continue
            d = shapely.distance(shapely.points(x[idx], y[idx]), self.route_lines[leg.permit])
            for a, b in true_runs(d > CORRIDOR_HALF_WIDTH_M):
                i0, i1 = idx[a], idx[b - 1]
                metres = float(np.sum(np.hypot(np.diff(x[i0 : i1 + 1]), np.diff(y[i0 : i1 + 1]))))
                if ts[i1] - ts[i0] >= 60 and metres >= 200:
                    why = (
                        "改去非核准消纳场"
                        if leg.facility != self.permits[leg.permit]["facility_index"]
                        else "绕行"
                    )
                    self.label(
                        "ROUTE_DEVIATION",
                        truck,
                        ts[i0],
                        ts[i1],
                        f"重车偏离核准路线{why}，约 {metres / 1000:.1f} 公里 / loaded truck off the approved corridor for {metres / 1000:.1f} km",
                    )
            for f, fac in enumerate(self.facilities):
                if f == leg.facility:
                    continue
                hit = shapely.contains_xy(fac.fence, x[idx], y[idx])
                for a, b in true_runs(hit):
                    self.near(
                        "WRONG_DESTINATION",
                        truck,
                        ts[idx[a]],
                        ts[idx[b - 1]],
                        f"重车穿过「{fac.name}」围栏未停车 / loaded truck passed through {fac.name}'s fence without stopping",
                    )


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )
