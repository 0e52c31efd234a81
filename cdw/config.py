"""One Settings object for the whole application (environment prefix ``CDW_``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cdw.bounds import (
    DistanceM,
    DurationS,
    Hour,
    PositiveDistanceM,
    PositiveSpeedKmh,
    Ratio,
    Sigmas,
)


class Thresholds(BaseModel):
    """Flag thresholds (DESIGN.md §3). Every one can be overridden per permit.

    Defaults of the GPS-tolerance settings come from the conditions the engine is built for
    (DESIGN.md §8: noise σ up to 20 m, one fix every 10-30 s):

    - ``fence_exit_margin_m`` 50 m (2.5 σ at σ 20 m) and ``fence_exit_min_s`` 60 s (three
      fixes at 30 s): a truck leaves a site or facility fence, and comes back, only when it
      is seen farther than the margin outside it for at least that long; nearer or shorter,
      the fixes outside are GPS jitter and the visit goes on (``trips.visit_places``).
    - ``fence_stop_min_s`` 120 s: a fence the truck spends less time in (longer than a wait
      at traffic lights, shorter than any loading or tipping) is one it passed through; it
      does not end its leg.
    - ``speeding_road_radius_m`` 50 m (2.5 σ at σ 20 m, the matcher's search radius): every
      road this near a fix is one the truck may have been on; a posted limit counts only
      when every such road is posted below the speed (checks/speeding.py).
    - ``speeding_radius_sigmas`` 3.5: where a track is noisier than the radius allows for,
      the radius grows to this many times its GPS σ (seen in the scatter of its fixes at
      its stops): at σ 20 m, 70 m; one fix in 460 lies farther, two in a row one pair in
      200,000 (checks/speeding.py).
    - ``deviation_confirm_margin_m`` 50 m (2.5 σ at σ 20 m): an off-route stretch is proof
      only when at least two of its fixes lie this far beyond the corridor as well; fixes
      nearer are within GPS error of it, and one farther may be a multipath fix
      (checks/route_deviation.py).
    """

    model_config = ConfigDict(allow_inf_nan=False)

    corridor_half_width_m: PositiveDistanceM = 50.0
    deviation_min_duration_s: DurationS = 60.0
    deviation_min_distance_m: DistanceM = 200.0
    stop_radius_m: PositiveDistanceM = 50.0
    long_stop_min_duration_s: DurationS = 600.0
    dumping_stop_min_duration_s: DurationS = 180.0
    dumping_facility_radius_m: DistanceM = 2000.0
    speed_limit_kmh: PositiveSpeedKmh = 60.0
    speeding_min_duration_s: DurationS = 30.0
    signal_gap_s: DurationS = 300.0
    tamper_min_jump_m: PositiveDistanceM = 1000.0
    night_start_hour: Hour = 22
    night_end_hour: Hour = 6
    trip_split_gap_s: DurationS = 1800.0
    fence_exit_margin_m: DistanceM = 50.0
    fence_exit_min_s: DurationS = 60.0
    fence_stop_min_s: DurationS = 120.0
    speeding_road_radius_m: DistanceM = 50.0
    speeding_radius_sigmas: Sigmas = 3.5
    deviation_confirm_margin_m: DistanceM = 50.0
    max_implied_speed_kmh: PositiveSpeedKmh = 180.0
    future_tolerance_s: DurationS = 300.0
    receipt_transit_allowance_s: DurationS = 4 * 3600.0
    quantity_tolerance_ratio: Ratio = 0.10


def _check_overrides(overrides: dict[str, float]) -> dict[str, float]:
    """A permit's threshold overrides: known names, each within the range of its setting."""
    unknown = sorted(set(overrides) - set(Thresholds.model_fields))
    if unknown:
        raise ValueError(f"未知阈值 / unknown thresholds: {', '.join(unknown)}")
    Thresholds.model_validate(overrides)
    return overrides


# Per-permit overrides of :class:`Thresholds` (same names, same bounds; NaN and inf refused).
ThresholdOverrides = Annotated[dict[str, float], AfterValidator(_check_overrides)]


# Where the analysis runs (Settings.analysis_scheduler; cdw.flows.partitioned.scheduler_of).
# The most vehicle buckets a point store may have (cdw.tracking.store sorts on day × this).
MAX_STORE_BUCKETS = 1024
# Parquet compressions the point store may write (the names polars takes)
StoreCompression = Literal["lz4", "zstd", "snappy", "uncompressed"]
SCHEDULER_PATTERN = r"^(inline|local|auto|tcp://(\[[0-9A-Fa-f:.]+\]|[^\s/:@\[\]]+):[0-9]{1,5})$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CDW_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    database_url: str = Field(
        default="sqlite:///./var/cdw.db",
        description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://… in production",
    )
    data_dir: Path = Field(default=Path("./var/data"), description="point store and reports")
    env: Literal["production", "development"] = Field(
        default="production",
        description="CDW_ENV=development lets the API start with a weak signing key (tests, demo)",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="HMAC key for bearer tokens (at least 32 bytes); when unset, a random key "
        "kept in <data_dir>/secret.key (created by `cdw db upgrade` or the first start)",
    )
    token_expire_minutes: int = Field(default=8 * 60, gt=0)
    password_min_length: int = Field(default=10, ge=8, le=128)
    login_failures_per_account: int = Field(
        default=5, gt=0, description="failed log-ins of one account within the window"
    )
    login_failures_per_address: int = Field(
        default=20, gt=0, description="failed log-ins from one client address within the window"
    )
    login_failure_window_s: float = Field(default=900.0, gt=0)
    login_lockout_s: float = Field(
        default=900.0, gt=0, description="how long log-in stays refused (429) past the limit"
    )
    password_hash_concurrency: int = Field(
        default=2, gt=0, description="Argon2 hashes at once (each takes 64 MiB)"
    )
    password_hash_queue: int = Field(
        default=32, ge=0, description="log-ins waiting for a hash slot before 429"
    )
    local_timezone: str = Field(default="Asia/Shanghai", description="for hours and dates")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    road_network: Path | None = Field(
        default=None,
        description="road network file (.npz cache, .geojson, .osm, .osm.bz2, .osm.pbf) for map matching",
    )
    max_request_mb: float = Field(
        default=64.0,
        gt=0,
        le=4096,
        allow_inf_nan=False,
        description="largest request body the API accepts (MB); larger ones answer 413",
    )
    credit_suspension_threshold: int = Field(
        default=60,
        ge=0,
        le=100,
        description="a haulier whose credit score falls below is suspended",
    )
    audit_key: str | None = Field(
        default=None,
        description="HMAC key of the audit chain (not the token key); "
        "default: the file audit.key in data_dir, created on first use",
    )
    live_pass_interval_s: float = Field(
        default=2.0,
        ge=0,
        le=20,
        allow_inf_nan=False,
        description="live engine: shortest time between two passes; the fixes arriving meanwhile "
        "join one pass (a light load no longer pays a pass per fix; flags stay within 30 s)",
    )
    gateway_host: str = Field(
        default="0.0.0.0", description="JT/T 808 gateway: address to listen on (terminals)"
    )
    gateway_port: int = Field(default=6808, ge=0, le=65535, description="JT/T 808 TCP port")
    gateway_status_host: str = Field(
        default="127.0.0.1", description="gateway status listener (/status, /metrics)"
    )
    gateway_status_port: int = Field(default=6809, ge=0, le=65535)
    gateway_idle_timeout_s: float = Field(
        default=180.0,
        gt=0,
        le=86400,
        allow_inf_nan=False,
        description="a terminal connection silent this long is closed (heartbeats count)",
    )
    gateway_max_auth_failures: int = Field(
        default=3,
        ge=1,
        le=100,
        description="wrong authentication codes before the connection is closed",
    )
    gateway_max_connections: int = Field(default=20_000, ge=1, le=1_000_000)
    gateway_absorb_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="how often the write-ahead log is absorbed into the point store",
    )
    gateway_broker_url: str | None = Field(
        default=None,
        description="optional NATS JetStream (nats://127.0.0.1:4222) in place of the gateway's "
        "own write-ahead log, for several gateway processes",
    )
    gateway_broker_stream: str = Field(default="CDW_POSITIONS", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    gateway_wal_segment_mb: float = Field(default=64.0, gt=0, le=4096, allow_inf_nan=False)
    # --- analysis at scale (cluster: cdw.flows.partitioned) ---
    analysis_chunk_rows: int = Field(
        default=2_000_000,
        ge=1,
        le=500_000_000,
        description="analysis: most points one task reads (a group of whole vehicles over the "
        "days analysed; a vehicle with more is a task alone); peak memory follows it",
    )
    analysis_scheduler: str | None = Field(
        default=None,
        pattern=SCHEDULER_PATTERN,
        description="analysis engine: unset or 'inline' (this process, task after task), "
        "'local' (a Dask cluster of one single-threaded worker process per core), "
        "'auto' (local when the run has more than one task and at least "
        "analysis_local_min_points points), or 'tcp://host:port' (a running Dask scheduler)",
    )
    analysis_local_min_points: int = Field(
        default=50_000_000,
        ge=0,
        le=10**12,
        description="'auto' runs the analysis on a local cluster only from this many points "
        "(below, the cluster's fixed cost of a few CPU-seconds outweighs its gain: "
        "docs/cluster.md); 0: whenever there is more than one task",
    )
    analysis_workers: int | None = Field(
        default=None, ge=1, le=1024, description="workers of the 'local' cluster (default: cores)"
    )
    analysis_store_url: str | None = Field(
        default=None,
        min_length=1,
        description="where Dask workers open the point store: a URL (s3://bucket/points, "
        "file:///mnt/cdw/points) or a path every worker mounts; default: this process's "
        "store path, made absolute",
    )
    # point store (cdw/tracking/store.py)
    store_buckets: int = Field(
        default=16,
        ge=1,
        le=MAX_STORE_BUCKETS,
        description="point store: vehicle buckets per day of a NEW store (a store keeps the "
        "number it was created with, in its store.json); one vehicle-day is read from one bucket",
    )
    store_compression: StoreCompression = Field(
        default="lz4",
        description="point store: Parquet compression of the files it writes from now on (files "
        "written otherwise stay readable; `cdw store compact --recompress` rewrites them). lz4 "
        "reads at about twice "
        "zstd's speed for about 1.4 times the disk (benchmarks/README.md, session 11)",
    )

    # --- ingest (bounded memory) ---
    ingest_chunk_rows: int = Field(
        default=1_000_000,
        ge=1,
        le=50_000_000,
        description="points read, checked and cleaned at a time when a GPS file is ingested: "
        "peak memory follows this, not the file",
    )
    # --- API process at scale (issue 15, dbscale) ---
    api_gc_tuning: bool = Field(
        default=True,
        description="API: freeze the start-up heap and collect young objects less often, so "
        "that no request pays a full garbage collection over the whole process (cdw.api.app)",
    )
    # --- road matcher (issue 15, speed2) ---
    road_table_cache: bool = Field(
        default=True,
        description="keep the map matcher's distance table of the road network in "
        "<data_dir>/cache (about 120 MB for Panyu), so that the next process (each Dask "
        "worker, each run) maps it in a fraction of a second instead of computing it; the "
        "approved routes snapped onto the network are kept there too (snapped-routes/)",
    )

    @field_validator("road_network", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        """``CDW_ROAD_NETWORK=`` (empty) means no network, not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def points_dir(self) -> Path:
        return self.data_dir / "points"

    @property
    def road_cache_dir(self) -> Path | None:
        """Where the matcher keeps its distance tables and snapped routes
        (``road_table_cache``), or None."""
        return (self.data_dir / "cache").resolve() if self.road_table_cache else None

    @property
    def wal_dir(self) -> Path:
        """Write-ahead logs of positions acknowledged and not yet in the point store."""
        return self.data_dir / "wal"


def day_bounds(start_day: date, end_day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """UTC instants of local midnight starting ``start_day`` and ending ``end_day``."""
    start = datetime.combine(start_day, time(0), tz).astimezone(UTC)
    end = datetime.combine(end_day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


@lru_cache
def get_settings() -> Settings:
    return Settings()


def local_today(settings: Settings | None = None) -> date:
    """Today's date in the configured timezone (``Settings.local_timezone``), not the host's."""
    return datetime.now(ZoneInfo((settings or get_settings()).local_timezone)).date()
