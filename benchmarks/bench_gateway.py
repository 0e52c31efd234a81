"""JT/T 808 gateway under load: N simulated terminals on loopback reporting every 10 s.

Run: ``.venv/bin/python benchmarks/bench_gateway.py [--terminals 1000 10000]
[--duration 60] [--interval 10] [--kill-at S] [--sim-procs 1]``.

For each N: a fresh SQLite registry with N vehicles (each with a terminal number) and a
fresh data folder; the gateway started in its own process (``python -m cdw.gateway``: ``cdw
gateway`` without loading the rest of the command line; write-ahead log fsynced); the terminals simulated in separate processes
(``--sim-procs``, this file with ``--simulate``; at most 20,000 terminals and 600 s):
each connects, registers (0x0100), authenticates (0x0102), then sends one 0x0200 every
``--interval`` seconds (random phase) and waits for its 0x8001. A terminal whose
connection drops or whose reply does not come within 30 s reconnects and sends the same
fix again (as real terminals do).

Printed per N: positions/s sustained over the steady window (acknowledged) against the
offered load, p50/p99 acknowledgement latency seen by the terminals and by the gateway,
the gateway's CPU (% of one core), its CPU time per acknowledged position (and so what
one free core would carry: the gateway is one asyncio process) and peak RSS, the status endpoint's last report, and
what broke first (connect or login failures, reply timeouts, a latency p99 over 1 s, or
throughput below 95 % of the offered load).

``--kill-at S``: the gateway is killed with SIGKILL S seconds into the steady window and
started again at once on the same port and data folder; at the end the point store is
compared with every fix a terminal saw acknowledged: lost (acknowledged, not stored) and
duplicated (stored twice) must both be 0. The last line printed is one JSON object with
every figure.

The machine is shared (2 cores): the simulators and the gateway compete for CPU, so the
figures are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAX_TERMINALS = 20_000
MAX_DURATION_S = 600
REPLY_TIMEOUT_S = 30.0
# BENCH_GATEWAY_PROFILE=file: the gateway runs under cProfile (written when it stops)
PROFILE = (
    ["-m", "cProfile", "-o", os.environ["BENCH_GATEWAY_PROFILE"]]
    if os.environ.get("BENCH_GATEWAY_PROFILE")
    else []
)


def phone_of(i: int) -> str:
    return f"0138{i:08d}"


def plate_of(i: int) -> str:
    return f"粤B{i:05d}"


# ------------------------------------------------------------------ simulator process


async def simulate(args: argparse.Namespace) -> dict[str, Any]:
    from cdw.gateway.simulator import Refused, SimTerminal

    stop_at = args.stop_at
    acked: list[tuple[str, int, float, float]] = []  # plate, fix epoch s, ack wall time, latency
    errors = {"connect": 0, "login": 0, "timeout": 0, "refused": 0, "dropped": 0}
    logged_in = 0
    gate = asyncio.Semaphore(args.connect_concurrency)

    async def connect(t: SimTerminal) -> bool:
        nonlocal logged_in
        while time.time() < stop_at:
            async with gate:
                try:
                    await t.connect("127.0.0.1", args.port)
                    await t.login()
                    logged_in += 1
                    return True
                except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                    errors["connect"] += 1
                except (Refused, TimeoutError):
                    errors["login"] += 1
                t.close()
            await asyncio.sleep(0.5 + random.random())
        return False

    async def run_terminal(i: int) -> None:
        t = SimTerminal(phone_of(i), plate_of(i), timeout=REPLY_TIMEOUT_S)
        if not await connect(t):
            return
        next_at = args.start_at + random.random() * args.interval
        last_fix = 0
        while next_at < stop_at:
            await asyncio.sleep(max(0.0, next_at - time.time()))
            fix = int(time.time())
            if fix <= last_fix:
                fix = last_fix + 1
            last_fix = fix
            ts = datetime.fromtimestamp(fix, UTC)
            while True:  # until acknowledged (or the run is over)
                try:
                    latency = await t.report(
                        ts, 113.3 + (i % 1000) * 1e-4, 23.0 + (i // 1000) * 1e-3
                    )
                    acked.append((t.plate, fix, time.time(), latency))
                    break
                except TimeoutError:
                    errors["timeout"] += 1
                except Refused:
                    errors["refused"] += 1
                except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                    errors["dropped"] += 1  # ValueError: a frame cut by the kill
                t.close()
                if time.time() > stop_at + REPLY_TIMEOUT_S or not await connect(t):
                    break
            next_at += args.interval
        t.close()

    done = await asyncio.gather(
        *(run_terminal(i) for i in range(args.first, args.first + args.count)),
        return_exceptions=True,
    )
    errors["simulator"] = sum(1 for d in done if isinstance(d, BaseException))
    return {"acked": acked, "errors": errors, "logins": logged_in}


# ------------------------------------------------------------------ orchestration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_registry(url: str, n: int) -> None:
    from sqlalchemy import insert
    from sqlmodel import Session

    from cdw.db import make_engine
    from cdw.models import all_models
    from cdw.registry.models import Haulier, Vehicle

    engine = make_engine(url)
    all_models().metadata.create_all(engine)
    with Session(engine) as s:
        haulier = Haulier(
            name="压测运输公司",
            credit_code="91440101MA5CYC4X4K",
            licence_no="L-BENCH",
            licence_valid_until=datetime(2030, 1, 1).date(),
        )
        s.add(haulier)
        s.commit()
        now = datetime.now(UTC)
        s.execute(
            insert(Vehicle),
            [
                {
                    "plate": plate_of(i), "haulier_id": haulier.id, "rated_capacity_m3": 18,
                    "rated_load_t": 31, "sealed_body": True, "load_sensor": True,
                    "terminal_id": phone_of(i), "inspection_valid_until": datetime(2030, 1, 1).date(),
                    "status": "active", "created_at": now, "updated_at": now,
                }
                for i in range(n)
            ],
        )  # fmt: skip
        s.commit()
    engine.dispose()


def start_gateway(env: dict[str, str], port: int, status_port: int, log: Path) -> subprocess.Popen:
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            [sys.executable, *PROFILE, "-m", "cdw.gateway", "--host", "127.0.0.1",
             "--port", str(port), "--status-port", str(status_port)],
            env=env, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("gateway listening"):
        raise SystemExit(f"gateway did not start: {log.read_text()[-3000:]}")
    return proc


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def status(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as answer:
            return json.loads(answer.read())
    except OSError:
        return None


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_one(n: int, args: argparse.Namespace) -> dict[str, Any]:
    from cdw.tracking.store import PointStore

    tmp = Path(tempfile.mkdtemp(prefix=f"cdw-bench-gw-{n}-"))
    url = f"sqlite:///{tmp / 'registry.db'}"
    t0 = time.perf_counter()
    make_registry(url, n)
    print(f"[{n}] registry of {n} vehicles in {time.perf_counter() - t0:.1f} s", flush=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CDW_DATABASE_URL": url,
        "CDW_DATA_DIR": str(tmp / "data"),
        "CDW_ENV": "development",
        "CDW_GATEWAY_MAX_CONNECTIONS": str(MAX_TERMINALS + 100),
    }
    port, status_port = free_port(), free_port()
    log = tmp / "gateway.log"
    gateway = start_gateway(env, port, status_port, log)
    # the terminals log in during the ramp; the steady window starts after it
    ramp_s = max(10.0, n / 250)
    start_at = time.time() + ramp_s
    stop_at = start_at + args.duration
    per_proc = -(-n // args.sim_procs)
    sims = []
    for k in range(args.sim_procs):
        first = k * per_proc
        count = min(per_proc, n - first)
        if count <= 0:
            break
        out = tmp / f"sim-{k}.json"
        sims.append(
            (
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--simulate",
                        "--port",
                        str(port),
                        "--first",
                        str(first),
                        "--count",
                        str(count),
                        "--interval",
                        str(args.interval),
                        "--start-at",
                        str(start_at),
                        "--stop-at",
                        str(stop_at),
                        "--out",
                        str(out),
                    ],
                    env=env,
                ),  # fmt: skip
                out,
            )
        )
    samples: list[tuple[float, float, float]] = []  # wall time, cpu s, rss MB
    sim_cpu: list[tuple[float, float]] = []  # wall time, cpu s of all simulators
    killed_at = None
    restart_s = restart_cpu_s = None
    restarts = 0
    last_status = None
    while time.time() < stop_at:
        time.sleep(1.0)
        with contextlib.suppress(FileNotFoundError):
            samples.append((time.time(), cpu_seconds(gateway.pid), rss_mb(gateway.pid)))
        with contextlib.suppress(FileNotFoundError):
            sim_cpu.append((time.time(), sum(cpu_seconds(p.pid) for p, _ in sims)))
        if (
            args.kill_at is not None
            and killed_at is None
            and time.time() >= start_at + args.kill_at
        ):
            last_status = status(status_port)
            os.kill(gateway.pid, signal.SIGKILL)
            gateway.wait()
            killed_at = time.time()
            print(
                f"[{n}] gateway killed (SIGKILL) at +{args.kill_at:.0f} s; restarting", flush=True
            )
            gateway = start_gateway(env, port, status_port, log)
            restart_s = time.time() - killed_at
            with contextlib.suppress(FileNotFoundError):
                restart_cpu_s = cpu_seconds(gateway.pid)
            restarts += 1
        if time.time() >= start_at:
            last_status = status(status_port) or last_status
    for proc, _ in sims:
        proc.wait(timeout=args.duration + ramp_s + 4 * REPLY_TIMEOUT_S + 120)
    gateway.send_signal(signal.SIGTERM)
    gateway.wait(timeout=300)

    acked: list[tuple[str, int, float, float]] = []
    errors: dict[str, int] = {}
    logins = 0
    for _, out in sims:
        data = json.loads(out.read_text())
        acked += [tuple(a) for a in data["acked"]]
        logins += data["logins"]
        for key, value in data["errors"].items():
            errors[key] = errors.get(key, 0) + value
    steady = [a for a in acked if start_at <= a[2] < stop_at]
    latencies = [a[3] for a in steady]
    positions_per_s = len(steady) / args.duration
    offered = n / args.interval
    window = [s for s in samples if start_at <= s[0] <= stop_at]
    cpu = None
    if len(window) >= 2 and killed_at is None:
        cpu = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) * 100
    elif len(window) >= 2:  # after a restart: the part after the kill
        after = [s for s in window if s[0] > killed_at + 5]
        if len(after) >= 2:
            cpu = (after[-1][1] - after[0][1]) / (after[-1][0] - after[0][0]) * 100

    cpu_ms_per_position = None
    if len(window) >= 2 and killed_at is None and steady:
        cpu_ms_per_position = round((window[-1][1] - window[0][1]) / len(steady) * 1000, 3)
    sim_window = [c for c in sim_cpu if start_at <= c[0] <= stop_at]
    sim_pct = None
    if len(sim_window) >= 2:
        sim_pct = (sim_window[-1][1] - sim_window[0][1]) / (sim_window[-1][0] - sim_window[0][0])
        sim_pct = round(sim_pct * 100, 1)
    load = os.getloadavg()[0]

    store = PointStore(tmp / "data" / "points")
    span = (
        datetime.fromtimestamp(start_at - ramp_s - 60, UTC),
        datetime.fromtimestamp(stop_at + 600, UTC) + timedelta(hours=1),
    )
    stored = store.read(*span)
    keys = set(
        zip(stored["vehicle"].to_list(), (int(t.timestamp()) for t in stored["ts"]), strict=True)
    )
    acked_keys = {(a[0], a[1]) for a in acked}
    lost = len(acked_keys - keys)
    duplicated = stored.height - len(keys)

    p99 = quantile(latencies, 0.99)
    broke = []
    if errors.get("connect") or errors.get("login"):
        broke.append(f"connect/login failures: {errors.get('connect', 0)}/{errors.get('login', 0)}")
    if errors.get("timeout"):
        broke.append(f"reply timeouts (>{REPLY_TIMEOUT_S:.0f} s): {errors['timeout']}")
    if p99 is not None and p99 > 1.0:
        broke.append(f"ack latency p99 {p99 * 1000:.0f} ms > 1 s")
    if positions_per_s < 0.95 * offered:
        broke.append(f"throughput {positions_per_s:.0f}/s < 95 % of offered {offered:.0f}/s")
    result = {
        "terminals": n,
        "logins": logins,
        "interval_s": args.interval,
        "steady_s": args.duration,
        "offered_per_s": offered,
        "positions_per_s": round(positions_per_s, 1),
        "ack_p50_ms": None if not latencies else round(quantile(latencies, 0.5) * 1000, 2),
        "ack_p99_ms": None if p99 is None else round(p99 * 1000, 2),
        "gateway_ack_p50_ms": (last_status or {}).get("ack_latency_p50_ms"),
        "gateway_ack_p99_ms": (last_status or {}).get("ack_latency_p99_ms"),
        "gateway_cpu_pct": None if cpu is None else round(cpu, 1),
        "gateway_rss_peak_mb": round(max((s[2] for s in samples), default=0.0), 1),
        "simulators_cpu_pct": sim_pct,
        # CPU the gateway spent per acknowledged position, and what one core would carry
        "gateway_cpu_ms_per_position": cpu_ms_per_position,
        "one_core_positions_per_s": None
        if not cpu_ms_per_position
        else round(1000 / cpu_ms_per_position),
        "machine_load_1min": round(load, 1),
        "errors": errors,
        "status": last_status,
        "killed": killed_at is not None,
        "restart_s": None if restart_s is None else round(restart_s, 1),
        "restart_cpu_s": None if restart_cpu_s is None else round(restart_cpu_s, 1),
        "acknowledged": len(acked_keys),
        "stored": stored.height,
        "lost": lost,
        "duplicated": duplicated,
        "broke_first": broke[0] if broke else "nothing at this load",
    }
    print(
        f"[{n}] {result['positions_per_s']}/s of {offered:.0f}/s offered; ack p50 "
        f"{result['ack_p50_ms']} ms p99 {result['ack_p99_ms']} ms (gateway's own: "
        f"{result['gateway_ack_p50_ms']}/{result['gateway_ack_p99_ms']} ms); CPU "
        f"{result['gateway_cpu_pct']} % of a core, RSS peak {result['gateway_rss_peak_mb']} MB "
        f"(simulators {sim_pct} %, machine load {load:.1f} on {os.cpu_count()} cores); "
        f"{cpu_ms_per_position} ms CPU per position (one free core: "
        f"{result['one_core_positions_per_s']}/s); "
        f"errors {errors}; "
        + (
            ""
            if restart_s is None
            else f"killed, listening again after {restart_s:.1f} s "
            f"({restart_cpu_s} s of CPU: start-up and recovery); "
        )
        + f"acknowledged {len(acked_keys)}, stored {stored.height}, lost {lost}, "
        f"duplicated {duplicated}; broke first: {result['broke_first']}",
        flush=True,
    )
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--terminals", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--duration", type=float, default=60.0, help="steady window, s")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--kill-at", type=float, default=None)
    parser.add_argument("--sim-procs", type=int, default=1)
    parser.add_argument("--connect-concurrency", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    # simulator process
    parser.add_argument("--simulate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--start-at", type=float)
    parser.add_argument("--stop-at", type=float)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.simulate:
        args.connect_concurrency = max(1, args.connect_concurrency)
        result = asyncio.run(simulate(args))
        args.out.write_text(json.dumps(result))
        return
    if any(n > MAX_TERMINALS or n < 1 for n in args.terminals) or not (
        0 < args.duration <= MAX_DURATION_S
    ):
        raise SystemExit(f"terminals 1–{MAX_TERMINALS}, duration up to {MAX_DURATION_S} s")
    results = [run_one(n, args) for n in args.terminals]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
