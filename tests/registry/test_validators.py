"""Registry validators on real examples and near misses."""

from __future__ import annotations

import json
from datetime import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon
from shapely.ops import transform

from cdw.errors import ValidationFailed
from cdw.registry.categories import FacilityKind, WasteCategory, ZoneKind
from cdw.registry.models import VehicleCreate
from cdw.registry.validators.choices import parse_categories
from cdw.registry.validators.geofences import (
    ZONE_MAX_AREA_M2,
    geodesic_area_m2,
    normalise_geofence,
    validate_geofence,
)
from cdw.registry.validators.hours import opening_hours_contain, validate_opening_hours
from cdw.registry.validators.identifiers import (
    CREDIT_CODE_CHARSET,
    credit_code_check_char,
    validate_credit_code,
    validate_terminal_id,
)
from cdw.registry.validators.plates import validate_plate
from cdw.registry.validators.pydantic_errors import problems_from_validation_error
from tests.sample_registry import box


def problems(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[str, str, str]]:
    return [(p.field, p.zh, p.en) for p in exc.value.problems]


# --- categories ----------------------------------------------------------------------------------


def test_waste_categories_follow_gb_55012():
    assert [(c.value, c.zh) for c in WasteCategory] == [
        ("excavated_soil", "工程渣土"),
        ("slurry", "工程泥浆"),
        ("construction", "工程垃圾"),
        ("demolition", "拆除垃圾"),
        ("renovation", "装修垃圾"),
    ]
    assert [c.zh for c in FacilityKind] == ["消纳场", "综合利用厂", "临时消纳点", "回填工地"]
    assert ZoneKind.water_source.zh == "水源保护区"


def test_categories_parse_from_values_and_labels_without_repeats():
    assert parse_categories("工程渣土;construction；工程渣土") == [
        WasteCategory.excavated_soil,
        WasteCategory.construction,
    ]
    assert parse_categories(["Slurry", "demolition waste"]) == [
        WasteCategory.slurry,
        WasteCategory.demolition,
    ]
    with pytest.raises(ValidationFailed) as exc:
        parse_categories("工程渣土;生活垃圾;rubble")
    assert [p.zh.split("，")[0] for p in exc.value.problems] == [
        "未知的废弃物类别「生活垃圾」",
        "未知的废弃物类别「rubble」",
    ]


# --- unified social credit codes -----------------------------------------------------------------

# Published codes: Tencent (深圳市腾讯计算机系统有限公司), Huawei (华为技术有限公司), Alibaba
# (China) (阿里巴巴（中国）有限公司), and codes collected in python-stdnum's test suite, including
# a public institution (12…) and an individual business (92…).
REAL_CREDIT_CODES = [
    "91440300708461136T",
    "914403001922038216",
    "91330100716105852F",
    "91110000600037341L",
    "91310000631696382C",
    "91440300568520498A",
    "9144030071526726XG",
    "121200004013590816",
    "91620105L015101280",
    "92340602MA2PBMEM24",
]


@pytest.mark.parametrize("code", REAL_CREDIT_CODES)
def test_real_credit_codes_are_valid(code):
    assert validate_credit_code(code) == code
    assert credit_code_check_char(code[:17]) == code[17]


def test_credit_code_is_normalised():
    assert validate_credit_code(" 91 440300 708461136t ") == "91440300708461136T"


@pytest.mark.parametrize("code", REAL_CREDIT_CODES)
def test_every_other_check_character_is_refused(code):
    for wrong in CREDIT_CODE_CHARSET.replace(code[17], ""):
        with pytest.raises(ValidationFailed) as exc:
            validate_credit_code(code[:17] + wrong)
        [(field, zh, en)] = problems(exc)
        assert field == "credit_code"
        assert zh.endswith(f"末位应为 {code[17]}")
        assert en.endswith(f"should end in {code[17]}")


@pytest.mark.parametrize(
    ("code", "zh_part"),
    [
        ("91440300708461136", "应为 18 位"),  # 17 characters
        ("91440300708461136T0", "应为 18 位"),  # 19 characters
        ("91440300708461I36T", "非法字符「I」"),
        ("91440300708461O36T", "非法字符「O」"),
        ("9144030070846S136T", "非法字符「S」"),
        ("9144030070846V136Z", "非法字符「VZ」"),
        ("914403A0708461136T", "行政区划码"),
    ],
)
def test_malformed_credit_codes_are_refused(code, zh_part):
    with pytest.raises(ValidationFailed) as exc:
        validate_credit_code(code)
    assert zh_part in exc.value.problems[0].zh


@settings(max_examples=60, deadline=None)
@given(
    head=st.text(CREDIT_CODE_CHARSET, min_size=2, max_size=2),
    region=st.text("0123456789", min_size=6, max_size=6),
    subject=st.text(CREDIT_CODE_CHARSET, min_size=9, max_size=9),
    wrong=st.sampled_from(CREDIT_CODE_CHARSET),
)
def test_check_character_accepts_exactly_one_ending(head, region, subject, wrong):
    first17 = head + region + subject
    check = credit_code_check_char(first17)
    # Reference: GB 32100-2015 weights are 3**i mod 31; check = (31 - sum mod 31) mod 31.
    total = sum(CREDIT_CODE_CHARSET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    assert check == CREDIT_CODE_CHARSET[(31 - total % 31) % 31]
    assert validate_credit_code(first17 + check) == first17 + check
    if wrong != check:
        with pytest.raises(ValidationFailed):
            validate_credit_code(first17 + wrong)


# --- plates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("粤A12345", "粤A12345"),  # ordinary
        ("京AF0236", "京AF0236"),  # ordinary with a letter in the serial
        ("粤A1234D", "粤A1234D"),  # ordinary: 7 characters, the D is just a serial letter
        ("粤AD12345", "粤AD12345"),  # small new-energy, pure electric
        ("沪AFA1234", "沪AFA1234"),  # small new-energy, letter in second place
        ("粤A12345D", "粤A12345D"),  # large new-energy (trucks)
        ("苏E05396F", "苏E05396F"),
        ("粤a·12345", "粤A12345"),  # lower case and the dot painted on plates
        ("粤 B 1234 5", "粤B12345"),
    ],
)
def test_valid_plates(raw, expected):
    assert validate_plate(raw) == expected


@pytest.mark.parametrize(
    ("raw", "zh_part"),
    [
        ("粤AI2345", "不使用字母 I 和 O"),
        ("粤A1234O", "不使用字母 I 和 O"),
        ("粤OD12345", "不使用字母 I 和 O"),
        ("港A12345", "不是省级简称"),
        ("A12345", "不是省级简称"),
        ("粤A1234", "实为 6 位"),
        ("粤A1234567", "实为 9 位"),
        ("粤112345", "普通号牌格式"),  # office code must be a letter
        ("粤A12#45", "普通号牌格式"),
        ("粤AA12345", "新能源号牌格式"),  # 8 characters but no D/F
        ("粤AD1234A", "新能源号牌格式"),  # small NEV must end in 4 digits
        ("粤A1B345D", "新能源号牌格式"),  # large NEV must start with 5 digits
        ("粤A123456", "新能源号牌格式"),
    ],
)
def test_invalid_plates(raw, zh_part):
    with pytest.raises(ValidationFailed) as exc:
        validate_plate(raw)
    [(field, zh, en)] = problems(exc)
    assert field == "plate"
    assert zh_part in zh
    assert raw in en


# --- terminal ids and opening hours ---------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["13800138000", "013800138000", "12345678901234567890", " 0138 0013 8000 "]
)
def test_valid_terminal_ids(raw):
    assert validate_terminal_id(raw) == raw.replace(" ", "")


@pytest.mark.parametrize("raw", ["1380013800", "123456789012345678901", "01380013800A", ""])
def test_invalid_terminal_ids(raw):
    with pytest.raises(ValidationFailed) as exc:
        validate_terminal_id(raw)
    assert "11–20 位数字" in exc.value.problems[0].zh


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("07:00-22:00", "07:00-22:00"), ("7:00 - 22:30", "07:00-22:30"), ("20:00-06:00", "20:00-06:00"),
     ("00:00-24:00", "00:00-24:00"), ("06:00至23:00", "06:00-23:00")],
)  # fmt: skip
def test_valid_opening_hours(raw, expected):
    assert validate_opening_hours(raw) == expected


@pytest.mark.parametrize(
    "raw", ["25:00-06:00", "07:60-22:00", "07:00-24:30", "0700-2200", "07:00", "07:00-07:00"]
)
def test_invalid_opening_hours(raw):
    with pytest.raises(ValidationFailed):
        validate_opening_hours(raw)


@pytest.mark.parametrize(
    ("hours", "at", "open_"),
    [
        ("07:00-22:00", time(7, 0), True),
        ("07:00-22:00", time(21, 59), True),
        ("07:00-22:00", time(22, 0), False),
        ("07:00-22:00", time(6, 59), False),
        ("20:00-06:00", time(23, 0), True),
        ("20:00-06:00", time(5, 59), True),
        ("20:00-06:00", time(6, 0), False),
        ("20:00-06:00", time(12, 0), False),
        ("00:00-24:00", time(23, 59), True),
        ("18:00-24:00", time(17, 59), False),
    ],
)
def test_opening_hours_contain(hours, at, open_):
    assert opening_hours_contain(hours, at) is open_


# --- geofences -----------------------------------------------------------------------------------

SQUARE = [[113.58, 23.55], [113.581, 23.55], [113.581, 23.551], [113.58, 23.551], [113.58, 23.55]]


def polygon(*rings):
    return {"type": "Polygon", "coordinates": [list(r) for r in rings]}


def test_valid_polygon_and_its_geodesic_area():
    geom = validate_geofence(polygon(SQUARE))
    assert isinstance(geom, Polygon)
    # Cross-check with a planar area in the UTM zone of Guangzhou (EPSG:32649).
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True).transform
    planar = transform(to_utm, geom).area
    assert geodesic_area_m2(geom) == pytest.approx(planar, rel=2e-3)
    assert 11_000 < planar < 11_600  # 0.001° × 0.001° at 23.55° N ≈ 102 m × 111 m


def test_multipolygon_feature_and_json_string_are_accepted():
    other = [[x + 0.01, y] for x, y in SQUARE]
    multi = {"type": "MultiPolygon", "coordinates": [[SQUARE], [other]]}
    assert isinstance(validate_geofence(multi), MultiPolygon)
    feature = {"type": "Feature", "properties": {}, "geometry": polygon(SQUARE)}
    assert validate_geofence(feature).equals(Polygon(SQUARE))
    assert normalise_geofence(json.dumps(polygon(SQUARE))) == polygon(SQUARE)


def test_polygon_with_a_hole_is_valid():
    outer = box(113.58, 23.55, 200, 200)["coordinates"][0]
    hole = box(113.58, 23.55, 50, 50)["coordinates"][0]
    assert validate_geofence(polygon(outer, hole)).area < Polygon(outer).area


def test_self_intersecting_bow_tie_is_refused():
    bow_tie = [[113.58, 23.55], [113.59, 23.56], [113.59, 23.55], [113.58, 23.56], [113.58, 23.55]]
    with pytest.raises(ValidationFailed) as exc:
        validate_geofence(polygon(bow_tie))
    [(field, zh, en)] = problems(exc)
    assert field == "geofence"
    assert zh == "多边形自相交（位置 [113.585 23.555]）"
    assert en == "invalid polygon: Self-intersection[113.585 23.555]"


def test_latitude_longitude_swapped_polygon_is_refused_as_swapped():
    swapped = [[lat, lon] for lon, lat in SQUARE]  # Guangzhou written as [lat, lon]
    with pytest.raises(ValidationFailed) as exc:
        validate_geofence(polygon(swapped))
    [(field, zh, en)] = problems(exc)
    assert zh.startswith("疑似经纬度颠倒：首点为 [23.55, 113.58]")
    assert en.startswith("looks like lat/lon swapped")


def test_swap_inside_wgs84_ranges_is_caught_for_china():
    # Kashgar (75.99 E, 39.47 N) written as [lat, lon]: in range, but it would sit in Iran.
    kashgar = [[39.47, 75.99], [39.471, 75.99], [39.471, 75.991], [39.47, 75.991], [39.47, 75.99]]
    with pytest.raises(ValidationFailed) as exc:
        validate_geofence(polygon(kashgar))
    assert "疑似经纬度颠倒" in exc.value.problems[0].zh


def test_polygon_outside_china_is_not_mistaken_for_a_swap():
    prague = [[14.42, 50.08], [14.421, 50.08], [14.421, 50.081], [14.42, 50.081], [14.42, 50.08]]
    assert validate_geofence(polygon(prague)).is_valid


def test_every_structural_problem_is_reported_at_once():
    unclosed = SQUARE[:-1]
    short_hole = [[113.5802, 23.5502], [113.5804, 23.5502], [113.5802, 23.5502]]
    with pytest.raises(ValidationFailed) as exc:
        validate_geofence(polygon(unclosed, short_hole))
    zh = [p.zh for p in exc.value.problems]
    assert zh == [
        "多边形外环未闭合：首点 [113.58, 23.55] 与末点 [113.58, 23.551] 不同",
        "多边形第 1 个内环只有 3 个坐标，至少需要 4 个（首尾相同）",
    ]


@pytest.mark.parametrize(
    ("geojson", "zh_part"),
    [
        ({"type": "Point", "coordinates": [113.58, 23.55]}, "实为 Point"),
        ([[113.58, 23.55]], "实为 list"),
        ({"type": "Polygon", "coordinates": []}, "没有环"),
        ({"type": "Polygon"}, "缺少坐标"),
        (polygon([[190.0, 23.55], [190.001, 23.55], [190.001, 23.551], [190.0, 23.55]]), "超出 WGS-84"),
        (polygon([[113.58, 23.55], ["113.581", 23.55], [113.581, 23.551], [113.58, 23.55]]), "不是 [经度, 纬度]"),
        (polygon([[113.58, 23.55], [113.581, 23.55], [113.58, 23.55]]), "至少需要 4 个"),
        ("{not json", "不是有效的 JSON"),
    ],
)  # fmt: skip
def test_malformed_geofences(geojson, zh_part):
    with pytest.raises(ValidationFailed) as exc:
        validate_geofence(geojson)
    assert zh_part in exc.value.problems[0].zh


def test_area_sanity_bounds():
    assert validate_geofence(box(113.58, 23.55, 3.5, 3.5)).is_valid  # ≈ 12 m²: a small gate
    with pytest.raises(ValidationFailed) as exc:
        validate_geofence(box(113.58, 23.55, 2.8, 2.8))  # ≈ 8 m²
    assert "面积" in exc.value.problems[0].zh and "10 m²" in exc.value.problems[0].zh
    assert validate_geofence(box(113.58, 23.55, 9_500, 9_500)).is_valid  # ≈ 90 km²
    with pytest.raises(ValidationFailed) as exc:
        validate_geofence(box(113.58, 23.55, 10_500, 10_500))  # ≈ 110 km²
    assert "109.7 km²" in exc.value.problems[0].zh
    # Restricted zones may be larger (water-source protection areas).
    assert validate_geofence(box(113.58, 23.55, 20_000, 20_000), max_area_m2=ZONE_MAX_AREA_M2)


# --- pydantic errors as bilingual problems --------------------------------------------------------


def test_validation_error_becomes_bilingual_problems():
    with pytest.raises(ValidationError) as exc:
        VehicleCreate.model_validate(
            {"plate": "粤AI2345", "haulier_id": 1, "rated_capacity_m3": 0, "rated_load_t": "x"}
        )
    got = {p.field: p.zh for p in problems_from_validation_error(exc.value, line=7)}
    assert got == {
        "plate": "车牌号无效「粤AI2345」：车牌不使用字母 I 和 O",
        "rated_capacity_m3": "应大于 0",
        "rated_load_t": "应为数字",
        "inspection_valid_until": "必填字段缺失",
    }
    assert {p.line for p in problems_from_validation_error(exc.value, line=7)} == {7}
