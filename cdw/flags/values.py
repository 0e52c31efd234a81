"""A flag in memory: one suspected violation with its evidence, as a check or the
reconciliation produces it (pure: no database)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cdw.flags.codes import FlagCode


@dataclass(frozen=True)
class Flag:
    """One suspected violation as a check produces it (times aware UTC, geometry lon/lat)."""

    code: FlagCode
    severity: int  # 0-100
    vehicle: str
    trip_id: str | None
    start: datetime
    end: datetime
    lon: float
    lat: float
    geometry: dict[str, Any]
    measured: dict[str, Any]
    thresholds: dict[str, Any]
    explanation_zh: str
    explanation_en: str
    permit_no: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (times ISO-8601)."""
        out = asdict(self)
        out["code"] = str(self.code)
        out["label_zh"] = self.code.zh
        out["label_en"] = self.code.en
        out["start"] = self.start.isoformat()
        out["end"] = self.end.isoformat()
        return out
