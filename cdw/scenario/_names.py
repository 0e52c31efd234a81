"""Invented but well-formed Chinese names, plates and codes for scenarios (seeded)."""

from __future__ import annotations

import numpy as np

from cdw.registry.validators.identifiers import CREDIT_CODE_CHARSET, credit_code_check_char

TOWNS = (
    "市桥街",
    "沙头街",
    "东环街",
    "钟村街",
    "大石街",
    "洛浦街",
    "石壁街",
    "大龙街",
    "南村镇",
    "新造镇",
    "化龙镇",
    "石楼镇",
    "石碁镇",
    "沙湾街",
)
ROADS = (
    "番禺大道",
    "市广路",
    "迎宾路",
    "兴南大道",
    "汉溪大道",
    "亚运大道",
    "市良路",
    "南大路",
    "清河东路",
    "金山大道",
)
PROJECTS = (
    "安置区项目",
    "旧村改造项目",
    "道路扩建工程",
    "学校建设项目",
    "产业园厂房工程",
    "商住楼项目",
    "污水管网工程",
    "医院扩建工程",
    "轨道交通配套工程",
    "河涌整治工程",
    "体育中心项目",
    "物流园项目",
)
FIRMS = (
    "顺达",
    "宏盛",
    "粤通",
    "鑫源",
    "恒泰",
    "永安",
    "诚信",
    "金穗",
    "华运",
    "番禺",
    "骏达",
    "联达",
    "泰丰",
    "穗兴",
    "隆昌",
    "禺山",
    "沙湾",
    "莲花",
    "锦程",
    "天禾",
    "富邦",
    "安捷",
    "汇通",
    "盛世",
)
SURNAMES = "陈李黄张梁刘何罗林谢郑吴钟邓冯曾彭赖叶欧"
GIVEN = "志伟明华建国强军海波俊杰家辉永健文斌锦荣德胜少峰振宇"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # plate letters: no I, O
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = "10X98765432"


def pick(rng: np.random.Generator, items: tuple[str, ...] | str) -> str:
    return items[int(rng.integers(len(items)))]


def numbered(base: str, seen: set[str]) -> str:
    """``base``, or ``base`` with （二）, （三）, … until unused."""
    name, k = base, 1
    while name in seen:
        k += 1
        name = f"{base}（{k}）"
    seen.add(name)
    return name


def person_name(rng: np.random.Generator) -> str:
    given = "".join(pick(rng, GIVEN) for _ in range(int(rng.integers(1, 3))))
    return pick(rng, SURNAMES) + given


def address(rng: np.random.Generator, town: str | None = None) -> str:
    return f"广州市番禺区{town or pick(rng, TOWNS)}{pick(rng, ROADS)}{int(rng.integers(1, 300))}号"


def credit_code(rng: np.random.Generator, seen: set[str]) -> str:
    """An enterprise code (9 1, Panyu 440113) with a valid GB 32100-2015 check character,
    not in ``seen`` (added to it)."""
    while True:
        body = "".join(CREDIT_CODE_CHARSET[int(i)] for i in rng.integers(0, 10, size=8))
        body += CREDIT_CODE_CHARSET[int(rng.integers(0, len(CREDIT_CODE_CHARSET)))]
        first17 = "91440113" + body
        code = first17 + credit_code_check_char(first17)
        if code not in seen:
            seen.add(code)
            return code


def plate(rng: np.random.Generator, seen: set[str], *, new_energy: bool) -> str:
    """粤A + five characters (ordinary) or 粤A + five digits + D/F (large new-energy truck)."""
    while True:
        if new_energy:
            serial = "".join(str(int(d)) for d in rng.integers(0, 10, size=5)) + pick(rng, "DF")
        else:
            serial = "".join(
                pick(rng, LETTERS) if rng.random() < 0.2 else str(int(rng.integers(0, 10)))
                for _ in range(5)
            )
        if f"粤A{serial}" not in seen:
            seen.add(f"粤A{serial}")
            return f"粤A{serial}"


def id_number(rng: np.random.Generator, seen: set[str]) -> str:
    """An 18-character resident ID (driving licence number) with its ISO 7064 check
    character, not in ``seen`` (added to it): a birth date and a 3-digit serial are drawn
    again on a repeat (10 million numbers, so a 20,000-driver city redraws a few dozen)."""
    while True:
        birth = f"{int(rng.integers(1968, 1998))}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"
        first17 = "440126" + birth + "".join(str(int(d)) for d in rng.integers(0, 10, size=3))
        number = first17 + id_check_char(first17)
        if number not in seen:
            seen.add(number)
            return number


def id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of a resident ID's first 17 digits."""
    digits = np.array([int(c) for c in first17])
    return _ID_CHECK[int(digits @ _ID_WEIGHTS) % 11]


def phone(rng: np.random.Generator) -> str:
    return "1" + pick(rng, "35789") + "".join(str(int(d)) for d in rng.integers(0, 10, size=9))
