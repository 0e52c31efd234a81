"""The API on a year of a 10,000-truck city's flags: p50/p99 of the flags page, the review
queue, a filtered flags page and a track, on SQLite and on PostgreSQL.

Run: ``.venv/bin/python benchmarks/bench_api_scale.py [--rows 1600000]
[--databases sqlite postgresql] [--pg-url postgresql://…/cdw_dbscale] [--requests 200]``.

For each database: the schema built by the migrations (``cdw.migrate.upgrade``: the indexes
and flag-count triggers production has), then ``--rows`` flags bulk inserted directly (COPY on
PostgreSQL, executemany on SQLite; the triggers count them as for any writer): 365 local days,
10,000 plates, a code mix weighted towards the common checks, severities 10–95, and the
statuses of a year of review work (older flags mostly dismissed, warned or confirmed, the last
weeks mostly open). PostgreSQL uses its own
schema ``bench_api_scale`` in the given database (dropped and rebuilt each run). The track
comes from a small point store holding one vehicle's day at 10 s.

Each endpoint is asked ``--warmup`` times, then ``--requests`` times through the app's
TestClient (in-process: the figures include routing, the query, validation and JSON, not a
network hop): the flags page unfiltered (GET /flags), the review queue (GET /enforcement/queue, open
flags by severity; and with a score of at least 60, a total the flag counts cannot give), a
filtered flags page (one code over a random 7-day range), a haulier user's flags page (the flags
of the vehicles it held at the time: 100 hauliers, one vehicle in 20 transferred mid-year), a
deep page (GET /flags at offset 10,000) and one vehicle-day track (GET /tracks/{plate}). The
totals of four filters are then checked against a COUNT over the rows. Prints p50,
p95 and p99 in ms per endpoint and database, and the CPU time of this process per request
(on SQLite that includes the database's work; on PostgreSQL only the app's); the last line is one JSON object with every
figure. ``--gc-default`` runs the app without its start-up collector tuning (``Settings.
api_gc_tuning``), to compare the p95/p99 it saves.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORKDIR = Path(tempfile.mkdtemp(prefix="cdw-bench-api-"))
os.environ.setdefault("CDW_DATA_DIR", str(WORKDIR / "data"))
os.environ.setdefault("CDW_DATABASE_URL", f"sqlite:///{WORKDIR / 'unused.db'}")

PG_SCHEMA = "bench_api_scale"
TZ = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(2026, 1, 1)
DAYS = 365
TRUCKS = 10_000
HAULIERS = 100
TRANSFER_EVERY = 20  # one vehicle in 20 changes haulier during the year
TRANSFER_DAY = date(2026, 7, 1)
# Share of each code in a year of flags: the everyday checks first (weights, not fitted).
CODE_WEIGHTS = {
    "LONG_STOP": 20, "SIGNAL_GAP": 16, "ROUTE_DEVIATION": 14, "NO_RECEIPT": 10,
    "SPEEDING": 9, "OUT_OF_HOURS": 7, "UNMANIFESTED_TRIP": 6, "QUANTITY_DISCREPANCY": 4,
    "RESTRICTED_ZONE": 4, "WRONG_DESTINATION": 3, "RECEIPT_WITHOUT_TRIP": 2,
    "SUSPECTED_DUMPING": 2, "OVERLOAD": 1, "TAMPER_SUSPECTED": 1, "UNAUTHORISED_VEHICLE": 1,
}  # fmt: skip
REVIEWED = {"dismissed": 55, "warned": 20, "in_case": 5, "confirmed": 15, "withdrawn": 5}
OPEN_WEEKS = 3  # flags of the last weeks are mostly still open


def plate(i: int) -> str:
    return f"粤A{i:05d}"


def flag_rows(rows: int, seed: int = 15):
    """``rows`` flag tuples (column order of ``COLUMNS``) in chunks of 50,000."""
    rng = random.Random(seed)
    codes, code_w = zip(*CODE_WEIGHTS.items(), strict=True)
    statuses, status_w = zip(*REVIEWED.items(), strict=True)
    created = datetime(2027, 1, 2, tzinfo=UTC)
    per_day = rows / DAYS
    chunk: list[tuple] = []
    for n in range(rows):
        day_index = min(int(n / per_day), DAYS - 1)
        day = FIRST_DAY + timedelta(days=day_index)
        code = rng.choices(codes, code_w)[0]
        local = datetime(day.year, day.month, day.day, 6, tzinfo=TZ) + timedelta(
            seconds=rng.randrange(16 * 3600)
        )
        start = local.astimezone(UTC)
        open_share = 0.9 if day_index >= DAYS - 7 * OPEN_WEEKS else 0.05
        status = "open" if rng.random() < open_share else rng.choices(statuses, status_w)[0]
        lon, lat = 113.2 + rng.random() * 0.4, 22.9 + rng.random() * 0.4
        vehicle = plate(rng.randrange(TRUCKS))
        chunk.append((
            code, rng.randrange(10, 96), vehicle, f"{vehicle}@{start:%Y%m%dT%H%M%SZ}", day,
            start, start + timedelta(seconds=rng.randrange(60, 3600)), lon, lat,
            json.dumps({"type": "Point", "coordinates": [lon, lat]}),
            json.dumps({"duration_s": 900.0}), json.dumps({"long_stop_min_duration_s": 600.0}),
            "停留 15.0 分钟（阈值 10.0 分钟）", "Stopped 15.0 min (threshold 10.0 min)",
            f"GZ-2026-{rng.randrange(5000):04d}", "engine", status, created,
        ))  # fmt: skip
        if len(chunk) == 50_000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


COLUMNS = (
    "code", "severity", "vehicle", "trip_id", "day", "start_ts", "end_ts", "lon", "lat",
    "geometry", "measured", "thresholds", "explanation_zh", "explanation_en", "permit_no",
    "source", "status", "created_at",
)  # fmt: skip


def _sqlite_ts(moment: datetime) -> str:
    """As SQLAlchemy stores a DateTime in SQLite: naive UTC with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def registry(conn) -> None:
    """``HAULIERS`` hauliers holding the ``TRUCKS`` plates in turn; every ``TRANSFER_EVERY``th
    vehicle passed to the next haulier on ``TRANSFER_DAY`` (two holding periods)."""
    from sqlalchemy import insert

    from cdw.registry.models import Haulier, Vehicle, VehicleAssignment

    now = datetime.now(UTC)
    stamps = {"status": "active", "created_at": now, "updated_at": now}
    conn.execute(insert(Haulier.__table__), [  # type: ignore[attr-defined]
        {"id": h, "name": f"运输公司{h}", "credit_code": f"91440100MA{h:07d}X",
         "licence_no": f"L{h}", "licence_valid_until": date(2030, 6, 30), "credit_score": 100,
         **stamps}
        for h in range(1, HAULIERS + 1)
    ])  # fmt: skip
    holder = [1 + i % HAULIERS for i in range(TRUCKS)]
    conn.execute(insert(Vehicle.__table__), [  # type: ignore[attr-defined]
        {"id": i + 1, "plate": plate(i), "haulier_id": holder[i], "rated_capacity_m3": 18.0,
         "rated_load_t": 31.0, "sealed_body": True, "load_sensor": True, "terminal_id": None,
         "inspection_valid_until": date(2030, 1, 1), **stamps}
        for i in range(TRUCKS)
    ])  # fmt: skip
    since = datetime(2025, 1, 1, tzinfo=UTC)
    local = datetime(TRANSFER_DAY.year, TRANSFER_DAY.month, TRANSFER_DAY.day, tzinfo=TZ)
    transfer = local.astimezone(UTC)  # as the application stores times
    periods = []
    for i in range(TRUCKS):
        if i % TRANSFER_EVERY:
            periods.append({"vehicle_id": i + 1, "haulier_id": holder[i], "valid_from": since})
        else:  # held by the previous haulier until the transfer
            first = 1 + (holder[i] - 2) % HAULIERS
            periods += [
                {"vehicle_id": i + 1, "haulier_id": first, "valid_from": since,
                 "valid_to": transfer},
                {"vehicle_id": i + 1, "haulier_id": holder[i], "valid_from": transfer},
            ]  # fmt: skip
    periods = [{"valid_to": None} | p for p in periods]
    conn.execute(insert(VehicleAssignment.__table__), periods)  # type: ignore[attr-defined]


def build(url: str, rows: int) -> float:
    """Migrate, bulk insert the flags (the counts kept by the database's triggers, as in
    production), the registry and three users; seconds spent inserting the flags."""
    from sqlalchemy import create_engine, text

    from cdw.db import normalise_url
    from cdw.migrate import upgrade

    upgrade(url)
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        registry(conn)
        users = "INSERT INTO app_user (username, full_name, role, hashed_password, is_active, token_version, created_at, haulier_id) VALUES "
        for name, role, haulier in (
            ("bench_admin", "admin", None),
            ("bench_officer", "enforcement_officer", None),
            ("bench_haulier", "haulier", 1),
        ):
            conn.execute(
                text(users + "(:u, '', :r, '!', true, 0, :t, :h)"),
                {"u": name, "r": role, "t": datetime.now(UTC), "h": haulier},
            )
    started = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        names = ", ".join(COLUMNS)
        if engine.dialect.name == "postgresql":
            with raw.cursor() as cur, cur.copy(f"COPY flag ({names}) FROM STDIN") as copy:
                for chunk in flag_rows(rows):
                    for row in chunk:
                        copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in COLUMNS)
            cur = raw.cursor()
            for chunk in flag_rows(rows):
                cur.executemany(
                    f"INSERT INTO flag ({names}) VALUES ({marks})",
                    [(*r[:4], r[4].isoformat(), _sqlite_ts(r[5]), _sqlite_ts(r[6]), *r[7:17],
                      _sqlite_ts(r[17])) for r in chunk],
                )  # fmt: skip
    seconds = time.perf_counter() - started
    # What autovacuum does after a bulk load (statistics, PostgreSQL's visibility map).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    engine.dispose()
    return seconds


def track_store(root: Path, vehicle: str, day: date) -> None:
    """One vehicle's local day at 10 s, and a second vehicle so the store is not trivial."""
    import polars as pl

    from cdw.tracking.store import PointStore

    start = datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC)
    n = 8640
    frames = []
    for k, name in enumerate((vehicle, plate(TRUCKS - 1))):
        frames.append(
            pl.DataFrame({
                "vehicle": [name] * n,
                "ts": [start + timedelta(seconds=10 * i) for i in range(n)],
                "lon": [113.3 + k * 0.01 + i * 1e-5 for i in range(n)],
                "lat": [23.1 + i * 1e-5 for i in range(n)],
                "speed_kmh": [30.0] * n,
            })
        )  # fmt: skip
    PointStore(root, timezone=str(TZ)).append(pl.concat(frames))


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2), "p99": round(cuts[98], 2)}


def measure(url: str, store_root: Path, requests: int, warmup: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from cdw.api.app import app
    from cdw.api.deps import get_session
    from cdw.api.routes.tracks import get_store
    from cdw.auth.security import create_access_token
    from cdw.config import get_settings
    from cdw.db import make_engine
    from cdw.tracking.store import PointStore

    engine = make_engine(url)

    def session():
        with Session(engine) as s:
            yield s

    app.dependency_overrides[get_session] = session
    app.dependency_overrides[get_store] = lambda: PointStore(store_root, timezone=str(TZ))
    settings = get_settings()
    admin = {"Authorization": f"Bearer {create_access_token('bench_admin', settings)}"}
    officer = {"Authorization": f"Bearer {create_access_token('bench_officer', settings)}"}
    haulier = {"Authorization": f"Bearer {create_access_token('bench_haulier', settings)}"}
    rng = random.Random(7)
    track_day = FIRST_DAY + timedelta(days=DAYS - 1)
    track_start = datetime(track_day.year, track_day.month, track_day.day, tzinfo=TZ)

    def week() -> str:
        first = FIRST_DAY + timedelta(days=rng.randrange(DAYS - 7))
        code = rng.choice(list(CODE_WEIGHTS)[:6])
        return f"/api/v1/flags?code={code}&day_from={first}&day_to={first + timedelta(days=6)}"

    endpoints = {
        "flags page": (lambda: "/api/v1/flags", admin),
        "review queue": (lambda: "/api/v1/enforcement/queue", officer),
        "review queue score>=60": (lambda: "/api/v1/enforcement/queue?min_severity=60", officer),
        "flags code+7 days": (week, admin),
        "flags page (haulier)": (lambda: "/api/v1/flags", haulier),
        "flags offset 10000": (lambda: "/api/v1/flags?offset=10000", admin),
        "track (1 vehicle-day)": (
            lambda: (
                f"/api/v1/tracks/{plate(0)}?start={quote(track_start.isoformat())}"
                f"&end={quote((track_start + timedelta(days=1)).isoformat())}"
            ),
            admin,
        ),
    }
    results: dict[str, Any] = {}
    with TestClient(app) as client:
        for name, (path, headers) in endpoints.items():
            for _ in range(warmup):
                client.get(path(), headers=headers).raise_for_status()
            samples, count, cpu = [], None, 0.0
            for _ in range(requests):
                started, cpu_started = time.perf_counter(), time.process_time()
                answer = client.get(path(), headers=headers)
                samples.append((time.perf_counter() - started) * 1000)
                cpu += time.process_time() - cpu_started
                answer.raise_for_status()
                body = answer.json()
                count = body.get("count", len(body.get("features", [])))
            cpu_ms = round(cpu * 1000 / requests, 2)
            results[name] = {**percentiles(samples), "cpu_ms": cpu_ms, "count": count}
        check_totals(client, engine, admin)
    app.dependency_overrides.clear()
    engine.dispose()
    return results


def check_totals(client, engine, headers: dict[str, str]) -> None:
    """The totals the flags page answers equal a COUNT over the rows (they come from the
    flag counts when the filters allow)."""
    from sqlalchemy import text

    week = (FIRST_DAY + timedelta(days=100), FIRST_DAY + timedelta(days=106))
    cases = {
        "": "",
        "?status=open": "WHERE status = 'open'",
        "?status=dismissed&code=SPEEDING": "WHERE status = 'dismissed' AND code = 'SPEEDING'",
        f"?code=LONG_STOP&day_from={week[0]}&day_to={week[1]}":
            f"WHERE code = 'LONG_STOP' AND day BETWEEN '{week[0]}' AND '{week[1]}'",
    }  # fmt: skip
    with engine.connect() as conn:
        for query, where in cases.items():
            answer = client.get(f"/api/v1/flags{query}", headers=headers).json()["count"]
            exact = conn.execute(text(f"SELECT count(*) FROM flag {where}")).scalar_one()
            assert answer == exact, (query, answer, exact)
    print(f"totals of {len(cases)} filters equal COUNT(*) over the rows", flush=True)


def registry_import(url: str, vehicles: int, workdir: Path) -> dict[str, float]:
    """Seconds to import 100 hauliers, then ``vehicles`` vehicles and as many drivers, and a
    fifth as many sites without codes, each file with ``import_file`` (validation, writes and
    audit entries) and committed."""
    import csv

    from sqlmodel import Session

    from cdw.db import make_engine
    from cdw.migrate import upgrade
    from cdw.registry.importer import import_file
    from cdw.registry.validators.identifiers import credit_code_check_char

    upgrade(url)
    codes = []
    for i in range(100):
        first17 = f"91440100MA{i:07d}"
        codes.append(first17 + credit_code_check_char(first17))
    files = {
        "hauliers": (
            ["name", "credit_code", "licence_no", "licence_valid_until"],
            [[f"运输公司{i}", code, f"L{i}", "2030-06-30"] for i, code in enumerate(codes)],
        ),
        "vehicles": (
            ["haulier_credit_code", "plate", "rated_capacity_m3", "rated_load_t", "terminal_id",
             "inspection_valid_until"],
            [[codes[i % 100], f"粤B{i:05d}", 18, 31, f"0138{i:08d}", "2030-01-01"]
             for i in range(vehicles)],
        ),
        "drivers": (
            ["haulier_credit_code", "name", "licence_no", "phone"],
            [[codes[i % 100], f"司机{i}", f"440100198001{i:06d}", ""] for i in range(vehicles)],
        ),
        "sites": (  # without codes: each generated from its id
            ["name", "project_permit_no", "builder", "contractor", "geofence",
             "expected_volume_m3"],
            [[f"工地{i}", f"P{i}", "建设单位", "施工单位", json.dumps(_square(i)), 1000]
             for i in range(vehicles // 5)],
        ),
    }  # fmt: skip
    engine = make_engine(url)
    seconds = {}
    for kind, (header, rows) in files.items():
        path = workdir / f"{kind}.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            csv.writer(out).writerows([header, *rows])
        started = time.perf_counter()
        with Session(engine) as session:
            imported = import_file(session, kind, path, actor="bench").imported
            session.commit()
        assert imported == len(rows), (kind, imported)
        seconds[kind] = round(time.perf_counter() - started, 2)
    engine.dispose()
    return seconds


def _square(i: int) -> dict[str, Any]:
    """A 100 m square fence, the ``i``-th of a grid over the city."""
    lon, lat = 113.2 + i % 100 * 0.002, 22.9 + i // 100 * 0.002
    ring = [[lon, lat], [lon + 0.001, lat], [lon + 0.001, lat + 0.001], [lon, lat + 0.001]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def replace_flags_timing(url: str, flags: int) -> dict[str, Any]:
    """``replace_flags`` of ``flags`` new flags of one day, the same flags found again
    (updated in place), then half of them (the other half deleted), each committed: wall
    seconds, CPU seconds of this process and of the PostgreSQL backend (on this machine),
    and the load average after."""
    from sqlmodel import Session

    from cdw.db import make_engine
    from cdw.flags.codes import FlagCode, FlagSource
    from cdw.flags.store import replace_flags
    from cdw.flags.values import Flag
    from cdw.migrate import upgrade

    upgrade(url)
    day = FIRST_DAY
    midnight = datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC)
    codes = list(FlagCode)

    def run(severity: int) -> list[Flag]:
        return [
            Flag(
                code=codes[i % len(codes)], severity=severity, vehicle=plate(i // 10),
                trip_id=None, start=midnight + timedelta(seconds=i % 10 * 600 + 1),
                end=midnight + timedelta(seconds=i % 10 * 600 + 300), lon=113.3, lat=23.1,
                geometry={"type": "Point", "coordinates": [113.3, 23.1]},
                measured={"duration_s": 600.0}, thresholds={"long_stop_min_duration_s": 600.0},
                explanation_zh="停留 10.0 分钟", explanation_en="Stopped 10.0 min",
            )
            for i in range(flags)
        ]  # fmt: skip

    engine = make_engine(url)
    seconds: dict[str, Any] = {}
    for label, found in (
        ("new", run(30)),
        ("found again", run(40)),
        ("half", run(50)[: flags // 2]),
    ):
        with Session(engine) as session:
            server = _server_process(session)
            started, cpu, server_cpu = time.perf_counter(), time.process_time(), _cpu_s(server)
            replace_flags(session, FlagSource.engine, day, day, found, TZ, actor="bench")
            session.commit()
            seconds[label] = {
                "wall": round(time.perf_counter() - started, 2),
                "cpu": round(time.process_time() - cpu, 2),
                "server_cpu": round(_cpu_s(server) - server_cpu, 2),
                "load": os.getloadavg()[0],
            }
    engine.dispose()
    return seconds


def _server_process(session) -> int | None:
    """The PostgreSQL backend serving ``session`` (on this machine), None on SQLite."""
    from sqlalchemy import text

    if session.get_bind().dialect.name != "postgresql":
        return None
    return session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` so far (0 for None)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_url_in_schema(url: str) -> str:
    from sqlalchemy import create_engine, text

    from cdw.db import normalise_url

    admin = create_engine(normalise_url(url))
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    admin.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{PG_SCHEMA}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_600_000)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "CDW_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/cdw_dbscale"
        ),
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--gc-default", action="store_true")
    parser.add_argument(
        "--only",
        choices=["api", "replace-flags", "registry"],
        nargs="+",
        default=["api", "replace-flags", "registry"],
    )
    parser.add_argument("--replace-flags", type=int, default=100_000, metavar="FLAGS")
    parser.add_argument("--registry-vehicles", type=int, default=10_000, metavar="N")
    args = parser.parse_args()
    if args.gc_default:
        os.environ["CDW_API_GC_TUNING"] = "false"
    store_root = WORKDIR / "points"
    track_store(store_root, plate(0), FIRST_DAY + timedelta(days=DAYS - 1))
    report: dict[str, Any] = {
        "rows": args.rows,
        "requests": args.requests,
        "gc_tuning": not args.gc_default,
        "load_average": os.getloadavg()[0],
        "databases": {},
    }

    def fresh_url(database: str, name: str) -> str:
        if database == "sqlite":
            return f"sqlite:///{WORKDIR / name}"
        return pg_url_in_schema(args.pg_url)

    for database in args.databases:
        figures: dict[str, Any] = {}
        report["databases"][database] = figures
        if "replace-flags" in args.only:
            figures["replace_flags_s"] = replace_flags_timing(
                fresh_url(database, "replace.db"), args.replace_flags
            )
            print(f"{database}: replace_flags of {args.replace_flags:,} flags, seconds:",
                  figures["replace_flags_s"], flush=True)  # fmt: skip
        if "registry" in args.only:
            figures["registry_import_s"] = registry_import(
                fresh_url(database, "registry.db"), args.registry_vehicles, WORKDIR
            )
            print(f"{database}: registry import ({args.registry_vehicles:,} vehicles and "
                  f"drivers, {args.registry_vehicles // 5:,} sites), seconds:",
                  figures["registry_import_s"], flush=True)  # fmt: skip
        if "api" not in args.only:
            continue
        url = fresh_url(database, "flags.db")
        insert_s = build(url, args.rows)
        gc.collect()
        endpoints = measure(url, store_root, args.requests, args.warmup)
        figures.update(insert_s=round(insert_s, 1), endpoints=endpoints)
        out = io.StringIO()
        print(f"\n{database}: {args.rows:,} flags inserted in {insert_s:.1f} s", file=out)
        print(f"{'endpoint':<24}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'CPU ms':>10}"
              f"{'count':>12}", file=out)  # fmt: skip
        for name, f in endpoints.items():
            print(f"{name:<24}{f['p50']:>10}{f['p95']:>10}{f['p99']:>10}{f['cpu_ms']:>10}"
                  f"{f['count']:>12}", file=out)  # fmt: skip
        print(out.getvalue(), flush=True)
    report["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
