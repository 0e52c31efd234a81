"""kill -9 of a running ``cdw gateway`` (a separate process on a SQLite registry): after a
restart every acknowledged position is in the point store, and none twice."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from cdw.db import make_engine
from cdw.gateway.simulator import Refused, SimTerminal
from cdw.models import all_models
from cdw.tracking.store import PointStore
from tests.factories import add_haulier, add_vehicle

ROOT = Path(__file__).resolve().parents[2]
TERMINALS = 4


def start_gateway(tmp: Path) -> tuple[subprocess.Popen, int]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CDW_DATABASE_URL": f"sqlite:///{tmp / 'registry.db'}",
        "CDW_DATA_DIR": str(tmp / "data"),
        "CDW_ENV": "development",
        # nothing absorbed before the kill: the restart must recover it all from the log
        "CDW_GATEWAY_ABSORB_INTERVAL_S": "3600",
    }
    with open(tmp / "gateway.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cdw.cli", "gateway", "--host", "127.0.0.1", "--port", "0",
             "--status-port", "0"],
            env=env, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("gateway listening on port"):
                return proc, int(line.split()[4].rstrip(","))
            if not line and proc.poll() is not None:
                break
    proc.kill()
    pytest.fail(f"the gateway did not start: {(tmp / 'gateway.log').read_text()[-2000:]}")


class Fleet:
    def __init__(self, plates: list[str]):
        self.terminals = [SimTerminal(f"0138{i:08d}", p) for i, p in enumerate(plates)]
        self.next_fix = [0] * len(plates)  # advanced only once a fix is acknowledged
        self.base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        self.acked: list[tuple[str, datetime]] = []

    async def drive(self, port: int, until: int, on_reached=None) -> None:
        async def one(i: int) -> None:
            t = self.terminals[i]
            try:
                await t.connect("127.0.0.1", port)
                await t.login()
                while len(self.acked) < until:
                    ts = self.base + timedelta(seconds=self.next_fix[i])
                    await t.report(ts, 113.3 + 1e-5 * self.next_fix[i], 23.1)
                    self.acked.append((t.plate, ts))
                    self.next_fix[i] += 1
                    if len(self.acked) >= until and on_reached is not None:
                        on_reached()
            except (ConnectionError, OSError, Refused, asyncio.IncompleteReadError):
                pass  # the gateway died: the fix in flight was not acknowledged
            finally:
                t.close()

        await asyncio.gather(*(one(i) for i in range(len(self.terminals))))


def test_kill_9_loses_no_acknowledged_position_and_duplicates_none(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    all_models().metadata.create_all(engine)
    with Session(engine) as s:
        haulier = add_haulier(s)
        plates = [
            add_vehicle(s, haulier, n, terminal_id=f"0138{n - 1:08d}").plate
            for n in range(1, TERMINALS + 1)
        ]
    engine.dispose()
    fleet = Fleet(plates)

    proc, port = start_gateway(tmp_path)
    killed = []

    def kill() -> None:
        if not killed:
            os.kill(proc.pid, signal.SIGKILL)
            killed.append(True)

    asyncio.run(fleet.drive(port, until=300, on_reached=kill))
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    acked_before_kill = len(fleet.acked)

    proc, port = start_gateway(tmp_path)  # recovers the log, then listens
    log = (tmp_path / "gateway.log").read_text()
    recovered = int(log.rsplit(" points recovered", 1)[0].rsplit(" ", 1)[1])
    assert recovered >= acked_before_kill
    asyncio.run(fleet.drive(port, until=acked_before_kill + 100))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0

    stored = PointStore(tmp_path / "data" / "points").read(
        fleet.base - timedelta(days=1), fleet.base + timedelta(days=1)
    )
    keys = list(zip(stored["vehicle"], stored["ts"], strict=True))
    lost = set(fleet.acked) - set(keys)
    assert lost == set()
    assert len(keys) == len(set(keys))  # no duplicate
    assert len(set(fleet.acked)) == len(fleet.acked)
    # every stored fix was acknowledged (all in flight at the kill were sent again)
    assert set(keys) == set(fleet.acked)
