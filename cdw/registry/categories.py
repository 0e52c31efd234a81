"""Registry enumerations, each member with a Chinese and an English label."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self


class LabelledEnum(StrEnum):
    """A string enum whose members carry ``zh`` and ``en`` labels.

    Members are declared as ``name = "value", "中文", "English"``; the value is what is stored
    and sent over the API.
    """

    zh: str
    en: str

    def __new__(cls, value: str, zh: str, en: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh = zh
        member.en = en
        return member

    @classmethod
    def parse(cls, raw: Any) -> Self:
        """The member whose value, Chinese or English label matches ``raw`` (case-insensitive)."""
        if isinstance(raw, cls):
            return raw
        text = str(raw).strip()
        folded = text.casefold()
        for member in cls:
            if folded in (member.value.casefold(), member.en.casefold()) or text == member.zh:
                return member
        raise ValueError(text)

    @classmethod
    def choices_zh(cls) -> str:
        return "、".join(f"{m.zh}（{m.value}）" for m in cls)

    @classmethod
    def choices_en(cls) -> str:
        return ", ".join(f"{m.value} ({m.en})" for m in cls)

    @classmethod
    def labels(cls) -> dict[str, dict[str, str]]:
        return {m.value: {"zh": m.zh, "en": m.en} for m in cls}


class WasteCategory(LabelledEnum):
    """Construction-waste categories of GB 55012-2021 §6.1.1."""

    excavated_soil = "excavated_soil", "工程渣土", "excavated soil"
    slurry = "slurry", "工程泥浆", "slurry"
    construction = "construction", "工程垃圾", "construction waste"
    demolition = "demolition", "拆除垃圾", "demolition waste"
    renovation = "renovation", "装修垃圾", "renovation waste"


class FacilityKind(LabelledEnum):
    landfill = "landfill", "消纳场", "landfill"
    recycling = "recycling", "综合利用厂", "recycling plant"
    temporary = "temporary", "临时消纳点", "temporary disposal point"
    backfill = "backfill", "回填工地", "backfill site"


class RecordStatus(LabelledEnum):
    active = "active", "启用", "active"
    inactive = "inactive", "停用", "inactive"


class HaulierStatus(LabelledEnum):
    active = "active", "正常", "active"
    suspended = "suspended", "暂停", "suspended"
    revoked = "revoked", "撤销", "revoked"


class ZoneKind(LabelledEnum):
    water_source = "water_source", "水源保护区", "water-source protection area"
    banned_road = "banned_road", "禁行道路", "banned road"
    other = "other", "其他禁区", "other restricted area"


ALL_ENUMS: tuple[type[LabelledEnum], ...] = (
    WasteCategory,
    FacilityKind,
    RecordStatus,
    HaulierStatus,
    ZoneKind,
)
