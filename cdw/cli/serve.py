"""``cdw serve``: run the REST API."""

from __future__ import annotations


def serve_command(host: str = "127.0.0.1", port: int = 8000, reload: bool = False) -> None:
    """启动 API 服务 / Run the REST API server."""
    import uvicorn

    uvicorn.run("cdw.api.app:app", host=host, port=port, reload=reload)
