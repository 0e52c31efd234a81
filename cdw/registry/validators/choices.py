"""Enumerations and waste-category lists given as values or Chinese/English labels."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from cdw.errors import Problem, ValidationFailed
from cdw.registry.categories import LabelledEnum, WasteCategory
from cdw.registry.validators import failed


def parse_enum(enum: type[LabelledEnum], raw: Any, *, field: str) -> LabelledEnum:
    """A member of ``enum`` from its value or its Chinese or English label."""
    try:
        return enum.parse(raw)
    except ValueError:
        raise failed(
            field,
            f"取值无效「{raw}」，可选：{enum.choices_zh()}",
            f"invalid value '{raw}'; allowed: {enum.choices_en()}",
        ) from None


def parse_categories(raw: Any, *, field: str = "categories") -> list[WasteCategory]:
    """Waste categories from a list or a ``;``/``,``/``|``-separated string; order kept, no repeats."""
    if raw is None:
        return []
    items: Iterable[Any]
    if isinstance(raw, str):
        items = [p for p in re.split(r"[;,|；，、]", raw) if p.strip()]
    elif isinstance(raw, list | tuple):
        items = raw
    else:
        raise failed(field, "废弃物类别应为列表", "waste categories must be a list")
    out: list[WasteCategory] = []
    problems: list[Problem] = []
    for item in items:
        try:
            member = WasteCategory.parse(item)
        except ValueError:
            problems.append(
                Problem(
                    field,
                    f"未知的废弃物类别「{item}」，可选：{WasteCategory.choices_zh()}",
                    f"unknown waste category '{item}'; allowed: {WasteCategory.choices_en()}",
                )
            )
            continue
        if member not in out:
            out.append(member)
    if problems:
        raise ValidationFailed(problems)
    return out
