"""``cdw gateway``: run the JT/T 808 gateway (terminals' TCP connections, status listener)."""

from __future__ import annotations

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
    from cdw.gateway.service import run

    try:
        run(host=host, port=port, status_port=status_port, echo=typer.echo)
    except CdwError as exc:
        fail(exc)
