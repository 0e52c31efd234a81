"""Counters the gateway reports: a rate over the last seconds and recent latencies."""

from __future__ import annotations

import time
from collections import deque


class RateMeter:
    """Events per second over the last ``window_s`` seconds (one-second buckets)."""

    def __init__(self, window_s: int = 10):
        self.window_s = window_s
        self._buckets: deque[list[int]] = deque()  # [second, count]
        self.total = 0

    def add(self, count: int = 1, now: float | None = None) -> None:
        second = int(time.monotonic() if now is None else now)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += count
        else:
            self._buckets.append([second, count])
        self.total += count
        self._trim(second)

    def _trim(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - self.window_s:
            self._buckets.popleft()

    def rate(self, now: float | None = None) -> float:
        """Events per second in the last complete ``window_s`` seconds."""
        second = int(time.monotonic() if now is None else now)
        self._trim(second)
        done = sum(count for s, count in self._buckets if s < second)
        return done / self.window_s


class LatencyWindow:
    """The last ``size`` latencies (seconds); quantiles on demand."""

    def __init__(self, size: int = 10_000):
        self._values: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self._values.append(seconds)

    def quantile(self, q: float) -> float | None:
        if not self._values:
            return None
        ordered = sorted(self._values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
