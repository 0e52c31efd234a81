"""``cdw serve``: run the REST API."""

from __future__ import annotations

from cdw.cli.console import fail
from cdw.errors import CdwError


def serve_command(host: str = "127.0.0.1", port: int = 8000, reload: bool = False) -> None:
    """启动 API 服务 / Run the REST API server."""
    import uvicorn

    from cdw.auth.keys import check_signing_key
    from cdw.config import get_settings

    try:
        check_signing_key(get_settings())  # the app checks too; here the refusal reads plainly
    except CdwError as exc:
        fail(exc)
    uvicorn.run("cdw.api.app:app", host=host, port=port, reload=reload)
