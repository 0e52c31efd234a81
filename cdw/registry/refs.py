"""References to sites, facilities, depots and zones: the one resolver every importer and
service uses (permits.json, manifests.csv, receipts.csv, the permit API).

A reference is a record's code, or its name where exactly one record of the kind bears that
name (names may repeat: two phases of one project often share one). A code wins over a name.
An unknown reference, or a name several records share, is a :class:`ValidationFailed` naming
the field, in Chinese and English; an ambiguous name lists the candidates' codes.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, select

from cdw.errors import Problem, ValidationFailed
from cdw.registry.services import ENTITIES

T = TypeVar("T", bound=SQLModel)
MAX_CANDIDATES_SHOWN = 10


def resolve_ref(session: Session, model: type[T], ref: Any, *, field: str) -> T:
    """The record of ``model`` whose code is ``ref``, else the one record named ``ref``."""
    entity = ENTITIES[model]
    text = str(ref).strip() if ref is not None else ""
    if not text:
        raise ValidationFailed(
            [Problem(field, f"未填写{entity.zh}", f"no {entity.en} given (a code or a name)")]
        )
    by_code = session.exec(select(model).where(col(model.code) == text)).first()  # type: ignore[attr-defined]
    if by_code is not None:
        return by_code
    named = session.exec(
        select(model).where(col(model.name) == text).order_by(col(model.id))  # type: ignore[attr-defined]
    ).all()
    if len(named) == 1:
        return named[0]
    if not named:
        raise ValidationFailed(
            [
                Problem(
                    field,
                    f"未登记的{entity.zh}：「{text}」（既不是编码，也不是名称）",
                    f"unknown {entity.en} '{text}' (neither a code nor a name)",
                )
            ]
        )
    codes = [r.code for r in named[:MAX_CANDIDATES_SHOWN]]  # type: ignore[attr-defined]
    more = len(named) - len(codes)
    listed = ", ".join(codes) + (f" … (+{more})" if more else "")
    raise ValidationFailed(
        [
            Problem(
                field,
                f"{entity.zh}名称「{text}」不唯一：{len(named)} 个记录同名（编码 {listed}），请改用编码",
                f"{entity.en} name '{text}' is ambiguous: {len(named)} records share it "
                f"(codes {listed}); refer to one by its code",
            )
        ]
    )


def try_resolve(
    session: Session, model: type[T], ref: Any, *, field: str
) -> tuple[T | None, list[Problem]]:
    """:func:`resolve_ref` for loaders that collect problems: (record, []) or (None, problems)."""
    try:
        return resolve_ref(session, model, ref, field=field), []
    except ValidationFailed as exc:
        return None, exc.problems
