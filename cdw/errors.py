"""The project's exception types.

Each carries a machine ``code`` and a message in Chinese and English; the API turns them
into JSON error bodies, the CLI prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Problem:
    """One thing wrong with an input: where it is and what is wrong, in both languages."""

    field: str
    zh: str
    en: str
    line: int | None = None
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "zh": self.zh, "en": self.en}
        if self.line is not None:
            out["line"] = self.line
        if self.source is not None:
            out["source"] = self.source
        return out

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.source, self.line) if p is not None)
        prefix = f"{where} " if where else ""
        return f"{prefix}[{self.field}] {self.zh} / {self.en}"


# An error body lists at most this many problems, then their total: a file with a million bad
# rows answers a short body, not one larger than the file.
MAX_PROBLEMS_SHOWN = 100


class CdwError(Exception):
    """Base of all cdw errors."""

    code = "error"
    http_status = 400

    def __init__(self, zh: str, en: str, *, problems: list[Problem] | None = None, **extra: Any):
        self.zh = zh
        self.en = en
        self.problems = problems or []
        self.extra = extra
        super().__init__(f"{zh} / {en}")

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message_zh": self.zh, "message_en": self.en}
        if self.problems:
            body["problems"] = [p.as_dict() for p in self.problems[:MAX_PROBLEMS_SHOWN]]
            body["problem_count"] = len(self.problems)
        body.update(self.extra)
        return body

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its fields (``__init__`` differs per subclass): an error raised on a
        Dask worker reaches the coordinating process whole."""
        return (_unpickled_error, (type(self), self.args), self.__dict__)

    def __str__(self) -> str:
        lines = [f"{self.zh} / {self.en}"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _unpickled_error(cls: type[CdwError], args: tuple[Any, ...]) -> CdwError:
    error = cls.__new__(cls)
    error.args = args
    return error


class ValidationFailed(CdwError, ValueError):
    """Input is invalid; ``problems`` lists every failing field (and line, for files)."""

    code = "validation_failed"
    http_status = 422

    def __init__(self, problems: list[Problem], zh: str = "输入无效", en: str = "Invalid input"):
        super().__init__(zh, en, problems=problems)


class NotFound(CdwError, LookupError):
    code = "not_found"
    http_status = 404

    def __init__(self, what_zh: str, what_en: str, key: Any):
        super().__init__(f"未找到{what_zh}：{key}", f"{what_en} not found: {key}")


class Conflict(CdwError):
    """Duplicate key, or a state change that the current state forbids."""

    code = "conflict"
    http_status = 409


class NotAuthenticated(CdwError, PermissionError):
    code = "not_authenticated"
    http_status = 401

    def __init__(
        self, zh: str = "未登录或令牌无效", en: str = "Not authenticated or invalid token"
    ):
        super().__init__(zh, en)


class Forbidden(CdwError, PermissionError):
    code = "forbidden"
    http_status = 403

    def __init__(self, zh: str = "无权执行此操作", en: str = "Your role may not do this"):
        super().__init__(zh, en)


class RequestTooLarge(CdwError):
    """A request body over ``Settings.max_request_mb``."""

    code = "request_too_large"
    http_status = 413

    def __init__(self, limit_mb: float):
        super().__init__(
            f"请求内容超过 {limit_mb:g} MB 上限", f"Request body over the {limit_mb:g} MB limit"
        )


class InputFileError(CdwError, ValueError):
    """A file that cannot be read at all (wrong format, truncated, bad checksum)."""

    code = "bad_input_file"
    http_status = 422
