"""The FastAPI application: routers under /api/v1 and JSON errors in zh-CN and English.

Around the routes: a request-size limit (``Settings.max_request_mb``, 413), security headers
on every answer, and the Swagger UI (``/docs``) and ReDoc (``/redoc``) pages served with their
assets from ``cdw/api/static`` (no CDN: they work offline).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdw.api.routes import (
    auth,
    citizen_reports,
    console,
    dashboard,
    enforcement,
    flags,
    live,
    manifests,
    maps,
    permits,
    positions,
    registry,
    tracks,
)
from cdw.auth.startup import auth_lifespan
from cdw.config import get_settings
from cdw.errors import CdwError, Conflict, Problem, RequestTooLarge, ValidationFailed
from cdw.registry.validators.pydantic_errors import problems_from_validation_error
from cdw.web import INDEX_HTML, get_console_settings
from cdw.web import STATIC_DIR as CONSOLE_DIR

API_PREFIX = "/api/v1"
STATIC_DIR = Path(__file__).parent / "static"
DOCS_URL, REDOC_URL, STATIC_URL = "/docs", "/redoc", "/static"
CONSOLE_URL, CONSOLE_ASSETS_URL = "/", "/web"

# Young-generation threshold while the API runs (CPython's default 700): a request allocates
# tens of thousands of objects, most freed by reference counting; collecting every 700 of them
# promotes them to the older generations and brings on the full collections sooner.
API_GC_THRESHOLD = (50_000, 20, 10)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start-up (:func:`cdw.auth.startup.auth_lifespan`), then, unless ``Settings.
    api_gc_tuning`` is off, the collector tuned for requests: the heap built at start-up
    (modules, models, schemas, compiled queries) frozen, so that no collection walks it again,
    and the young generation collected less often. Undone at shutdown (a test process starts
    the app many times)."""
    async with auth_lifespan(app):
        if not get_settings().api_gc_tuning:
            yield
            return
        threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(*API_GC_THRESHOLD)
        try:
            yield
        finally:
            gc.set_threshold(*threshold)
            gc.unfreeze()


app = FastAPI(
    title="cdw 建筑垃圾运输监管 / Construction-waste transport supervision",
    version="0.1.0",
    openapi_url="/openapi.json",
    docs_url=None,
    redoc_url=None,
    lifespan=lifespan,
)
# Every router of the API, in one list (tests walk it to check each route's roles).
ROUTERS = [
    auth.router,
    live.router,  # before registry: /vehicles/live is no /vehicles/{record_id}
    registry.router,
    tracks.router,
    positions.router,
    flags.router,
    enforcement.router,
    permits.router,
    manifests.router,
    console.router,
    maps.router,
    citizen_reports.router,
    dashboard.router,
]
for router in ROUTERS:
    app.include_router(router, prefix=API_PREFIX)
app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
# The web console (cdw/web): its page at /, its scripts, styles and vendored Leaflet at /web.
app.mount(CONSOLE_ASSETS_URL, StaticFiles(directory=CONSOLE_DIR), name="console")


@app.get(CONSOLE_URL, include_in_schema=False)
def console_page() -> HTMLResponse:
    return HTMLResponse(
        INDEX_HTML.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"}
    )


@app.get(DOCS_URL, include_in_schema=False)
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - Swagger UI",
        oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
        swagger_js_url=f"{STATIC_URL}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_URL}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_URL}/swagger-ui/favicon-32x32.png",
    )


@app.get(app.swagger_ui_oauth2_redirect_url, include_in_schema=False)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@app.get(REDOC_URL, include_in_schema=False)
def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{STATIC_URL}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{STATIC_URL}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )


# The API answers JSON and a few self-contained HTML reports: nothing may be loaded from
# elsewhere, and no page may be framed. The documentation pages also run their own inline
# start-up script and ReDoc its web worker.
_CSP_API = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_CSP_DOCS = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
_DOCS_PATHS = frozenset({DOCS_URL, REDOC_URL, app.swagger_ui_oauth2_redirect_url})


def _console_csp() -> str:
    """The API's policy; images also from the configured tile server, when there is one."""
    origin = get_console_settings().tile_origin
    return (
        _CSP_API
        if origin is None
        else _CSP_API.replace("img-src 'self' data:", f"img-src 'self' data: {origin}")
    )


def _security_headers(path: str) -> list[tuple[bytes, bytes]]:
    if path in _DOCS_PATHS:
        csp = _CSP_DOCS
    elif path == CONSOLE_URL:
        csp = _console_csp()
    else:
        csp = _CSP_API
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", csp.encode()),
    ]


class GuardMiddleware:
    """Refuses request bodies over ``Settings.max_request_mb`` with 413 (by their declared
    length, or after reading that much of a chunked body) and adds the security headers to
    every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit_mb = get_settings().max_request_mb
        limit = int(limit_mb * 1024 * 1024)
        extra_headers = _security_headers(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra_headers]
            await send(message)

        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                await _too_large(limit_mb)(scope, receive, send_with_headers)
                return
            await self.app(scope, receive, send_with_headers)
            return
        # No declared length (chunked): read the body here, at most ``limit`` bytes of it.
        chunks: list[bytes] = []
        received, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            more = message.get("more_body", False)
            if received > limit:
                await _too_large(limit_mb)(scope, receive, send_with_headers)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send_with_headers)


def _too_large(limit_mb: float) -> JSONResponse:
    error = RequestTooLarge(limit_mb)
    return JSONResponse(error.as_dict(), status_code=error.http_status)


app.add_middleware(GuardMiddleware)


@app.exception_handler(CdwError)
async def _cdw_error(_request: Request, exc: CdwError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return JSONResponse(exc.as_dict(), status_code=exc.http_status, headers=headers)


@app.exception_handler(IntegrityError)
async def _integrity_error(_request: Request, _exc: IntegrityError) -> JSONResponse:
    """A write the database refused that no service check caught first (a reference to a
    record that does not exist, a value another record holds): the client's conflict."""
    error = Conflict(
        "引用的记录不存在，或取值已被占用", "a referenced record does not exist or a value is taken"
    )
    return JSONResponse(error.as_dict(), status_code=error.http_status)


@app.exception_handler(DataError)
async def _data_error(_request: Request, _exc: DataError) -> JSONResponse:
    """A value the database cannot hold that passed the bounds of cdw.bounds."""
    problem = Problem(
        "body", "数值超出数据库可存储的范围", "a value outside what the database can hold"
    )
    return JSONResponse(ValidationFailed([problem]).as_dict(), status_code=422)


@app.exception_handler(RequestValidationError)
async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    body = ValidationFailed(problems_from_validation_error(exc.errors())).as_dict()
    return JSONResponse(body, status_code=422)


# FastAPI answers 400 when a JSON body cannot be parsed beyond a syntax error (nested too
# deeply, an integer too long to convert): to the client it is invalid input like any other.
_UNPARSABLE_BODY = "There was an error parsing the body"


@app.exception_handler(StarletteHTTPException)
async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        problem = Problem(
            "body", "请求内容无法解析（嵌套过深或数字过长）", "the body cannot be parsed "
            "(nested too deeply or a number too long)",
        )  # fmt: skip
        return JSONResponse(ValidationFailed([problem]).as_dict(), status_code=422)
    messages = {
        404: ("资源不存在", "Not found"),
        405: ("不支持的请求方法", "Method not allowed"),
        413: ("请求内容过大", "Request body too large"),
    }
    zh, en = messages.get(exc.status_code, ("请求错误", str(exc.detail)))
    return JSONResponse(
        {"code": f"http_{exc.status_code}", "message_zh": zh, "message_en": en},
        status_code=exc.status_code,
    )
