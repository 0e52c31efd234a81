"""The FastAPI application: routers under /api/v1 and JSON errors in zh-CN and English."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cdw.api.routes import auth, enforcement, flags, manifests, permits, registry, tracks
from cdw.auth.startup import auth_lifespan
from cdw.errors import CdwError, ValidationFailed
from cdw.registry.validators.pydantic_errors import problems_from_validation_error

API_PREFIX = "/api/v1"

app = FastAPI(
    title="cdw 建筑垃圾运输监管 / Construction-waste transport supervision",
    version="0.1.0",
    openapi_url="/openapi.json",
    lifespan=auth_lifespan,
)
# Every router of the API, in one list (tests walk it to check each route's roles).
ROUTERS = [
    auth.router,
    registry.router,
    tracks.router,
    flags.router,
    enforcement.router,
    permits.router,
    manifests.router,
]
for router in ROUTERS:
    app.include_router(router, prefix=API_PREFIX)


@app.exception_handler(CdwError)
async def _cdw_error(_request: Request, exc: CdwError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return JSONResponse(exc.as_dict(), status_code=exc.http_status, headers=headers)


@app.exception_handler(RequestValidationError)
async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    body = ValidationFailed(problems_from_validation_error(exc.errors())).as_dict()
    return JSONResponse(body, status_code=422)


@app.exception_handler(StarletteHTTPException)
async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    messages = {
        404: ("资源不存在", "Not found"),
        405: ("不支持的请求方法", "Method not allowed"),
    }
    zh, en = messages.get(exc.status_code, ("请求错误", str(exc.detail)))
    return JSONResponse(
        {"code": f"http_{exc.status_code}", "message_zh": zh, "message_en": en},
        status_code=exc.status_code,
    )
