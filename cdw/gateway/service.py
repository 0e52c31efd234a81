"""Running the gateway: write-ahead log, point store, intake, terminal directory, TCP
server and status listener, wired from the settings (``cdw gateway``)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import signal
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cdw.auth.keys import signing_key
from cdw.config import Settings, get_settings
from cdw.db import get_engine
from cdw.gateway.intake import Intake, Sink, no_sink, recover_orphans
from cdw.gateway.server import Gateway
from cdw.gateway.status import StatusServer
from cdw.gateway.terminals import TerminalDirectory
from cdw.gateway.wal import open_slot
from cdw.tracking.store import PointStore

log = logging.getLogger("cdw.gateway")


@lru_cache(maxsize=1)
def default_sink() -> Sink:
    """``LiveEngine().accept`` when the live engine is installed (package cdw.live),
    otherwise a sink that does nothing (the points still reach the point store). One
    engine per process: it keeps each vehicle's window between batches (a new engine
    would start cold, from the point store and the database, on every batch)."""
    if importlib.util.find_spec("cdw.live") is None:
        return no_sink
    try:
        from cdw.live.engine import LiveEngine  # noqa: PLC0415 (optional part)
    except ImportError:
        return no_sink
    return LiveEngine(pass_interval_s=get_settings().live_pass_interval_s).accept


@dataclass
class Running:
    gateway: Gateway
    status: StatusServer
    intake: Intake
    port: int
    status_port: int
    consumer: Any = None  # BrokerConsumer, with a broker
    broker: Any = None  # its NATS connection

    async def close(self) -> None:
        await self.status.close()
        await self.gateway.close()
        await self.intake.close()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.broker is not None:
            await self.broker.drain()


async def start_gateway(
    settings: Settings,
    *,
    sink: Sink | None = None,
    terminals: TerminalDirectory | None = None,
    port: int | None = None,
    status_port: int | None = None,
    wal_sync: bool = True,
) -> Running:
    """Recover what a previous run left in the log, then listen."""
    store = PointStore(settings.points_dir, timezone=settings.local_timezone)
    sink = sink if sink is not None else default_sink()
    consumer = broker = None
    if settings.gateway_broker_url:
        from cdw.gateway.broker import (  # noqa: PLC0415 (optional dependency)
            BrokerConsumer,
            BrokerIntake,
            connect_broker,
        )

        broker, js = await connect_broker(
            settings.gateway_broker_url, settings.gateway_broker_stream
        )
        intake: Intake = BrokerIntake(js, settings.gateway_broker_stream, store, sink=sink)
        consumer = BrokerConsumer(
            js, settings.gateway_broker_stream, store, sink=sink, intake=intake
        )
        await consumer.start()
        recovered = []
    else:
        wal = open_slot(
            settings.wal_dir,
            "gateway",
            segment_bytes=int(settings.gateway_wal_segment_mb * (1 << 20)),
            sync=wal_sync,
        )
        intake = Intake(wal, store, sink=sink, absorb_interval_s=settings.gateway_absorb_interval_s)
        recovered = await asyncio.to_thread(intake.recover)
    orphans = await asyncio.to_thread(recover_orphans, settings.wal_dir, store)
    if orphans:
        log.info("%d points recovered from the logs of stopped API processes", orphans)
    await intake.start()
    if recovered:
        await intake._call_sink(recovered)  # noqa: SLF001 (the same path as live batches)
    if terminals is None:
        terminals = TerminalDirectory.from_engine(get_engine())
    await asyncio.to_thread(terminals.reload)
    gateway = Gateway(
        intake,
        terminals,
        signing_key(settings),
        idle_timeout_s=settings.gateway_idle_timeout_s,
        max_auth_failures=settings.gateway_max_auth_failures,
        future_tolerance_s=settings.thresholds.future_tolerance_s,
        max_connections=settings.gateway_max_connections,
    )
    bound = await gateway.start(
        settings.gateway_host, settings.gateway_port if port is None else port
    )
    status = StatusServer(gateway)
    status_bound = await status.start(
        settings.gateway_status_host,
        settings.gateway_status_port if status_port is None else status_port,
    )
    log.info(
        "JT/T 808 gateway on %s:%d (status on %s:%d); %d terminals known, %d points recovered",
        settings.gateway_host,
        bound,
        settings.gateway_status_host,
        status_bound,
        len(terminals),
        len(recovered),
    )
    return Running(gateway, status, intake, bound, status_bound, consumer, broker)


async def serve(settings: Settings, *, on_ready: Callable[[Running], None] | None = None) -> None:
    """Run until SIGINT or SIGTERM, then finish the queued work and absorb the log."""
    running = await start_gateway(settings)
    if on_ready is not None:
        on_ready(running)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await running.close()


def run(
    *,
    host: str | None = None,
    port: int | None = None,
    status_port: int | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """``cdw gateway`` and ``python -m cdw.gateway``: the settings with these overrides, the
    signing key checked (the authentication codes are keyed with it), then :func:`serve`.
    Raises :class:`cdw.errors.CdwError` for an unfit key."""
    from cdw.auth.keys import check_signing_key  # noqa: PLC0415
    from cdw.config import get_settings  # noqa: PLC0415

    settings = get_settings()
    overrides = {
        key: value
        for key, value in {
            "gateway_host": host,
            "gateway_port": port,
            "gateway_status_port": status_port,
        }.items()
        if value is not None
    }
    if overrides:
        settings = settings.model_copy(update=overrides)
    check_signing_key(settings)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def ready(running: Running) -> None:
        echo(f"gateway listening on port {running.port}, status on port {running.status_port}")

    asyncio.run(serve(settings, on_ready=ready))


__all__ = ["Running", "default_sink", "run", "serve", "start_gateway"]
