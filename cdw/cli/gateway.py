"""``cdw gateway``: run the JT/T 808 gateway (terminals' TCP connections, status listener)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from cdw.cli.console import fail
from cdw.errors import CdwError


def gateway_command(
    host: Annotated[str | None, typer.Option(help="监听地址 / listen address")] = None,
    port: Annotated[
        int | None, typer.Option(help="JT/T 808 TCP 端口 / port", min=0, max=65535)
    ] = None,
    status_port: Annotated[
        int | None,
        typer.Option(help="状态端口 / status port (/status, /metrics)", min=0, max=65535),
    ] = None,
) -> None:
    """启动 JT/T 808 网关 / Run the JT/T 808 gateway (settings CDW_GATEWAY_*)."""
    from cdw.auth.keys import check_signing_key
    from cdw.config import get_settings
    from cdw.gateway.service import serve

    settings = get_settings()
    overrides = {
        k: v
        for k, v in {
            "gateway_host": host,
            "gateway_port": port,
            "gateway_status_port": status_port,
        }.items()
        if v is not None
    }
    if overrides:
        settings = settings.model_copy(update=overrides)
    try:
        check_signing_key(settings)  # the authentication codes are keyed with it
    except CdwError as exc:
        fail(exc)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def ready(running) -> None:
        typer.echo(
            f"gateway listening on port {running.port}, status on port {running.status_port}"
        )

    asyncio.run(serve(settings, on_ready=ready))
