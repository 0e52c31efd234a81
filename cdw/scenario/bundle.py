"""The scenario bundle on disk: its files, their columns, times of day, and the writers."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl

LOCAL_TZ = timezone(timedelta(hours=8))
H = 3600.0  # seconds in an hour (times of day are seconds from local midnight)
DAY_S = 24 * H


BUNDLE_FILES = (
    "scenario.json",
    "sites.json",
    "facilities.json",
    "hauliers.json",
    "depots.json",
    "vehicles.json",
    "drivers.json",
    "zones.json",
    "permits.json",
    "tracks.csv",
    "manifests.csv",
    "receipts.csv",
    "ground_truth.json",
)

RECEIPT_COLUMNS = (
    "receipt_no",
    "manifest_no",
    "plate",
    "facility",
    "received_at",
    "received_volume_m3",
    "weighbridge_t",
    "result",
)

MANIFEST_COLUMNS = (
    "manifest_no",
    "permit_no",
    "plate",
    "driver_licence_no",
    "site",
    "facility",
    "category",
    "declared_volume_m3",
    "issued_at",
    "departed_at",
)


@dataclass
class ScenarioSummary:
    out_dir: Path
    trucks: int
    seed: int
    day: date
    records: dict[str, int]  # file name -> records (features, objects or rows)
    violations: dict[str, int]  # flag code -> labelled violations
    near_misses: dict[str, int]  # flag code -> labelled near misses

    @property
    def points(self) -> int:
        return sum(n for name, n in self.records.items() if name.startswith("tracks"))


def iso(day: date, seconds: float) -> str:
    base = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
    return (base + timedelta(seconds=round(seconds))).isoformat(timespec="seconds")


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _write_json(path: Path, obj: Any) -> None:
    """A list is written one object per line (so importers report line numbers per record)."""
    if isinstance(obj, list):
        text = "[\n" + ",\n".join(_dump(item) for item in obj) + "\n]\n"
    else:
        text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    frame = pl.DataFrame(rows) if rows else pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    frame.select(columns).write_csv(path)


def write_bundle(
    out_dir: Path,
    meta: dict[str, Any],
    registry: dict[str, Any],
    manifests: list[dict[str, Any]],
    receipts: list[dict[str, Any]],
) -> dict[str, int]:
    """Write the bundle's files but its tracks into ``out_dir`` (created); return the
    records per file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir / "scenario.json", meta)
    for name, obj in registry.items():
        _write_json(out_dir / name, obj)
    _write_csv(out_dir / "manifests.csv", manifests, MANIFEST_COLUMNS)
    _write_csv(out_dir / "receipts.csv", receipts, RECEIPT_COLUMNS)
    records = {name: len(obj) for name, obj in registry.items()}
    return records | {"manifests.csv": len(manifests), "receipts.csv": len(receipts)}


def track_files(out_dir: Path) -> list[Path]:
    """The bundle's track files (``tracks.csv``, or ``tracks-00001.csv``, …)."""
    return sorted(out_dir.glob("tracks*.csv"))


def network_reference(network: Path, out_dir: Path) -> str:
    """The network file as the bundle names it: relative when both lie in one repository
    checkout (the bundled sample), else absolute."""
    network, out_dir = network.resolve(), out_dir.resolve()
    root = Path(__file__).resolve().parents[2]
    if network.is_relative_to(root) and out_dir.is_relative_to(root):
        return os.path.relpath(network, out_dir)
    return str(network)
