"""The gateway's status, on a small HTTP listener of its own process.

``GET /status``: :class:`GatewayStatus` as JSON. ``GET /metrics``: the same figures in the
Prometheus text format. Anything else: 404. One request per connection; no other methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from pydantic import BaseModel, Field

from cdw.gateway.server import Gateway

MAX_REQUEST_BYTES = 8192


class GatewayStatus(BaseModel):
    """连接终端、吞吐与积压 / connected terminals, throughput and backlog."""

    uptime_s: float = Field(description="seconds since the gateway started")
    connections: int = Field(description="open TCP connections")
    connected_terminals: int = Field(description="authenticated terminals connected now")
    connections_total: int
    positions_total: int = Field(description="positions made durable since start")
    positions_per_s: float = Field(description="durable positions per second, last 10 s")
    frames_per_s: float
    duplicates_total: int
    bad_frames_total: int
    refused_total: int = Field(description="registrations, authentications, positions refused")
    idle_closed_total: int
    queue_depth: int = Field(description="batches waiting for the log writer or the sink")
    pending_points: int = Field(description="positions not yet in the point store")
    wal_backlog_bytes: int = Field(description="write-ahead log bytes after the checkpoint")
    broker_pending_messages: int | None = Field(
        description="with a broker: messages not yet absorbed into the point store"
    )
    absorbed_total: int = Field(description="positions handed to the point store")
    sink_errors_total: int
    ack_latency_p50_ms: float | None
    ack_latency_p99_ms: float | None


def gateway_status(gateway: Gateway, started: float) -> GatewayStatus:
    intake = gateway.intake
    p50 = gateway.ack_latency.quantile(0.5)
    p99 = gateway.ack_latency.quantile(0.99)
    return GatewayStatus(
        uptime_s=round(time.monotonic() - started, 3),
        connections=len(gateway.sessions),
        connected_terminals=gateway.connected_terminals,
        connections_total=gateway.connections_total,
        positions_total=intake.accepted.total,
        positions_per_s=intake.accepted.rate(),
        frames_per_s=gateway.frames.rate(),
        duplicates_total=intake.duplicates_total,
        bad_frames_total=gateway.bad_frames,
        refused_total=gateway.refused,
        idle_closed_total=gateway.idle_closed,
        queue_depth=intake.queue_depth,
        pending_points=intake.pending_points,
        wal_backlog_bytes=intake.backlog_bytes(),
        broker_pending_messages=intake.broker_pending,
        absorbed_total=intake.absorbed_total,
        sink_errors_total=intake.sink_errors,
        ack_latency_p50_ms=None if p50 is None else round(p50 * 1000, 3),
        ack_latency_p99_ms=None if p99 is None else round(p99 * 1000, 3),
    )


def prometheus_text(status: GatewayStatus) -> str:
    lines = []
    for name, info in GatewayStatus.model_fields.items():
        value = getattr(status, name)
        if value is None:
            continue
        metric = f"cdw_gateway_{name}"
        kind = "counter" if name.endswith("_total") else "gauge"
        if info.description:
            lines.append(f"# HELP {metric} {info.description}")
        lines.append(f"# TYPE {metric} {kind}")
        lines.append(f"{metric} {value}")
    return "\n".join(lines) + "\n"


class StatusServer:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.started = time.monotonic()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        request = head[:MAX_REQUEST_BYTES].split(b"\r\n", 1)[0].decode("latin-1").split()
        method, path = (request + ["", ""])[:2]
        path = path.split("?", 1)[0]
        if method != "GET":
            code, kind, body = "405 Method Not Allowed", "text/plain", "GET only\n"
        elif path == "/status":
            status = gateway_status(self.gateway, self.started)
            code, kind, body = "200 OK", "application/json", status.model_dump_json()
        elif path == "/metrics":
            status = gateway_status(self.gateway, self.started)
            code, kind, body = "200 OK", "text/plain; version=0.0.4", prometheus_text(status)
        else:
            code, kind, body = "404 Not Found", "text/plain", "/status or /metrics\n"
        data = body.encode()
        writer.write(
            f"HTTP/1.1 {code}\r\nContent-Type: {kind}\r\nContent-Length: {len(data)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + data
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
