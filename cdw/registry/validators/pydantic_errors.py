"""Pydantic errors → Problems with Chinese and English text."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cdw.errors import Problem, ValidationFailed

_PYDANTIC_ZH = {
    "missing": "必填字段缺失",
    "string_type": "应为文本",
    "string_too_short": "文本过短",
    "string_too_long": "文本过长",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限数字",
    "bool_type": "应为是/否（true/false）",
    "bool_parsing": "应为是/否（true/false）",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "应为日期，不含时刻",
    "datetime_parsing": "应为日期时间（ISO 8601）",
    "datetime_type": "应为日期时间（ISO 8601）",
    "enum": "取值无效",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "json_invalid": "JSON 格式错误",
    "extra_forbidden": "不允许的字段",
}


def _pydantic_zh(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    bounds = {
        "greater_than": "应大于 {gt}",
        "greater_than_equal": "应不小于 {ge}",
        "less_than": "应小于 {lt}",
        "less_than_equal": "应不大于 {le}",
    }
    shown = {k: f"{v:g}" if isinstance(v, int | float) else v for k, v in ctx.items()}
    if kind in bounds:
        return bounds[kind].format(**shown)
    if kind == "too_short" and "min_length" in ctx:
        return f"至少需要 {ctx['min_length']} 项"
    if kind == "too_long" and "max_length" in ctx:
        return f"至多 {ctx['max_length']} 项"
    if kind == "enum" and "expected" in ctx:
        return f"取值无效，可选：{ctx['expected']}"
    return _PYDANTIC_ZH.get(kind, "取值无效")


def problems_from_validation_error(
    exc: ValidationError | list[dict[str, Any]],
    *,
    line: int | None = None,
    source: str | None = None,
    skip_loc: tuple[str, ...] = ("body", "query", "path"),
) -> list[Problem]:
    """Turn pydantic errors (or ``RequestValidationError.errors()``) into Problems.

    Errors raised by the validators of this package keep their own Chinese and English text.
    """
    errors = exc.errors() if isinstance(exc, ValidationError) else exc
    problems: list[Problem] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in skip_loc]
        field = ".".join(loc) or "body"
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, ValidationFailed):
            problems += [Problem(field, p.zh, p.en, line, source) for p in inner.problems]
        else:
            problems.append(
                Problem(field, _pydantic_zh(err), str(err.get("msg", "")), line, source)
            )
    return problems
