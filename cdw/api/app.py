"""The FastAPI application: routers under /api/v1 and JSON errors in zh-CN and English."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cdw.api.routes import auth, registry, tracks
from cdw.errors import CdwError

API_PREFIX = "/api/v1"

app = FastAPI(
    title="cdw 建筑垃圾运输监管 / Construction-waste transport supervision",
    version="0.1.0",
    openapi_url="/openapi.json",
)
# Every router of the API, in one list (tests walk it to check each route's roles).
ROUTERS = [auth.router, registry.router, tracks.router]
for router in ROUTERS:
    app.include_router(router, prefix=API_PREFIX)


@app.exception_handler(CdwError)
async def _cdw_error(_request: Request, exc: CdwError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return JSONResponse(exc.as_dict(), status_code=exc.http_status, headers=headers)


@app.exception_handler(RequestValidationError)
async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        problems.append(
            {"field": ".".join(loc) or "body", "zh": f"字段无效：{err.get('msg')}", "en": err.get("msg")}
        )
    body = {
        "code": "validation_failed",
        "message_zh": "输入无效",
        "message_en": "Invalid input",
        "problems": problems,
    }
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
