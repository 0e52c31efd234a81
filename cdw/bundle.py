"""A scenario bundle: one folder holding a whole data set (DESIGN.md §2 registries, permits,
GPS tracks), loaded with one command. The format is described in sample_tracks/README.md.

Registry and permit files are loaded in one transaction (all or nothing); the tracks are
then ingested into the point store, each file whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from cdw.errors import InputFileError
from cdw.permits.importer import import_permits
from cdw.registry.importer import import_file
from cdw.tracking.ingest import IngestReport, ingest_file
from cdw.tracking.store import PointStore

# Load order: what a file refers to is loaded before it.
REGISTRY_FILES = ("hauliers", "sites", "facilities", "depots", "vehicles", "drivers", "zones")
TRACK_PATTERNS = ("tracks*.csv", "tracks*.parquet", "tracks*.geojson", "tracks*.gpx", "tracks*.bin")


@dataclass
class BundleReport:
    registry: dict[str, int] = field(default_factory=dict)
    permits: int = 0
    tracks: list[IngestReport] = field(default_factory=list)


def _registry_file(folder: Path, kind: str) -> Path | None:
    for suffix in (".json", ".csv"):
        candidate = folder / f"{kind}{suffix}"
        if candidate.exists():
            return candidate
    return None


def load_registry(session: Session, folder: Path) -> BundleReport:
    """Registry files and permits.json of ``folder`` into ``session`` (flushed, not committed)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"数据包目录不存在：{folder}", f"bundle folder not found: {folder}")
    report = BundleReport()
    for kind in REGISTRY_FILES:
        path = _registry_file(folder, kind)
        if path is not None:
            report.registry[kind] = import_file(session, kind, path).imported
    if (folder / "permits.json").exists():
        report.permits = import_permits(session, folder / "permits.json")
    return report


def track_files(folder: Path) -> list[Path]:
    return sorted(p for pattern in TRACK_PATTERNS for p in Path(folder).glob(pattern))


def ingest_tracks(
    folder: Path, store: PointStore, terminal_to_plate: dict[str, str]
) -> list[IngestReport]:
    return [
        ingest_file(path, store, terminal_to_plate=terminal_to_plate)
        for path in track_files(folder)
    ]
