"""Plate numbers (GA 36-2018): province character, issuing-office letter, serial."""

from __future__ import annotations

import re

from cdw.registry.validators import failed

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_LETTER = "A-HJ-NP-Z"  # I and O are never used
_ORDINARY = re.compile(rf"[{PROVINCES}][{_LETTER}][0-9{_LETTER}]{{5}}")
_NEV_SMALL = re.compile(rf"[{PROVINCES}][{_LETTER}][DF][0-9{_LETTER}][0-9]{{4}}")
_NEV_LARGE = re.compile(rf"[{PROVINCES}][{_LETTER}][0-9]{{5}}[DF]")
_PLATE_SEPARATORS = re.compile(r"[\s·•・.\-]")


def plate_key(plate: str) -> str:
    """A plate as stored: upper case, without spaces, dots or dashes (not validated)."""
    return _PLATE_SEPARATORS.sub("", plate).upper()


def validate_plate(plate: str, *, field: str = "plate") -> str:
    """Normalise (upper case, no separators) and check a mainland plate number.

    Ordinary plates have 7 characters (``粤A12345``); new-energy plates 8: small vehicles
    ``粤AD12345`` (D/F, a letter or digit, four digits), large vehicles ``粤A12345D`` (five
    digits, then D/F). I and O are never used.
    """
    if not isinstance(plate, str):
        raise failed(field, "车牌号应为文本", "plate must be a string")
    norm = plate_key(plate)
    if not norm:
        raise failed(field, "车牌号为空", "plate is empty")
    why_zh: str
    why_en: str
    if norm[0] not in PROVINCES:
        why_zh = f"首字「{norm[0]}」不是省级简称"
        why_en = f"first character '{norm[0]}' is not a province abbreviation"
    elif "I" in norm or "O" in norm:
        why_zh, why_en = "车牌不使用字母 I 和 O", "plates never use the letters I and O"
    elif len(norm) not in (7, 8):
        why_zh = f"应为 7 位（普通）或 8 位（新能源），实为 {len(norm)} 位"
        why_en = f"expected 7 characters (ordinary) or 8 (new-energy), got {len(norm)}"
    elif (
        len(norm) == 7
        and _ORDINARY.fullmatch(norm)
        or len(norm) == 8
        and (_NEV_SMALL.fullmatch(norm) or _NEV_LARGE.fullmatch(norm))
    ):
        return norm
    elif len(norm) == 7:
        why_zh = "普通号牌格式应为：省简称 + 发牌机关字母 + 5 位字母或数字"
        why_en = "an ordinary plate is province + office letter + 5 letters or digits"
    else:
        why_zh = (
            "新能源号牌格式应为：小型 省简称+字母+D/F+字母或数字+4 位数字，"
            "大型 省简称+字母+5 位数字+D/F"
        )
        why_en = (
            "a new-energy plate is province + letter + D/F + letter-or-digit + 4 digits (small)"
            " or province + letter + 5 digits + D/F (large)"
        )
    raise failed(field, f"车牌号无效「{plate}」：{why_zh}", f"invalid plate '{plate}': {why_en}")
