"""Bulk import: exact line numbers, all-or-nothing, --skip-invalid and its rejects file."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from cdw.audit.log import verify_chain
from cdw.audit.models import AuditEntry
from cdw.cli import registry as registry_cli
from cdw.db import session_scope
from cdw.errors import InputFileError, ValidationFailed
from cdw.registry import services
from cdw.registry.categories import FacilityKind, WasteCategory
from cdw.registry.importer import KINDS, import_file, json_item_lines
from cdw.registry.models import ConstructionSite, DisposalFacility, Haulier, Vehicle
from tests.factories import credit_code, haulier_in, site_in, square

H1, H2 = credit_code(1), credit_code(2)
VEHICLE_HEADER = "haulier_credit_code,plate,rated_capacity_m3,rated_load_t,sealed_body,terminal_id,inspection_valid_until"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def count(engine: Engine, model) -> int:
    """Rows as another connection sees them (what was really written)."""
    with Session(engine) as fresh:
        return fresh.exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def hauliers(session: Session) -> None:
    services.create(session, Haulier, haulier_in(1))
    services.create(session, Haulier, haulier_in(2))
    session.commit()


def located(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[int | None, str]]:
    return [(p.line, p.field) for p in exc.value.problems]


def test_hauliers_csv_with_bom_is_imported(session: Session, engine: Engine, tmp_path: Path):
    path = tmp_path / "hauliers.csv"
    path.write_text(
        "name,credit_code,licence_no,licence_valid_until,credit_score\n"
        "广州市穗通土石方运输有限公司,91440117ma59c3tk22,粤交运管许可穗字440117001236号,2030-06-30,92\n"
        "广州市宏达建筑废弃物运输有限公司,91440111MA5AR8QH6M,粤交运管许可穗字440111004518号,2029-03-31,\n",
        encoding="utf-8-sig",
    )
    report = import_file(session, "hauliers", path)
    session.commit()
    assert (report.read, report.imported, report.rejected) == (2, 2, 0)
    assert report.rejects_path is None
    got = services.get(session, Haulier, report.ids[0])
    assert (got.credit_code, got.credit_score) == ("91440117MA59C3TK22", 92)
    assert services.get(session, Haulier, report.ids[1]).credit_score == 100  # blank → default
    assert count(engine, Haulier) == 2


def test_vehicles_resolve_their_haulier_by_credit_code(session: Session, hauliers, tmp_path: Path):
    path = write(
        tmp_path,
        "vehicles.csv",
        f"{VEHICLE_HEADER}\n"
        f"{H2},粤A26918D,17,30,是,013800138003,2030-01-31\n"
        f"{H1},粤A5B721,18,31,否,,2029-09-30\n",
    )
    report = import_file(session, "vehicles", path)
    session.commit()
    first, second = (services.get(session, Vehicle, i) for i in report.ids)
    assert (first.haulier_id, first.sealed_body, first.terminal_id) == (2, True, "013800138003")
    assert (second.haulier_id, second.sealed_body, second.terminal_id) == (1, False, None)


BAD_VEHICLES = (
    f"{VEHICLE_HEADER}\n"  # line 1
    f"{H1},粤A5B721,18,31,是,013800138001,2029-09-30\n"  # 2 good
    f"{H1},粤AI8823,16.5,29,是,013800138002,2029-08-31\n"  # 3 plate with I
    "\n"  # 4 blank
    f"{H1},粤A26918D,17,30,是,013800138003,2030-01-31\n"  # 5 good
    f"91440111MA5AR8QH6M,粤A07735F,18,31,是,013800138004,2029-11-30\n"  # 6 unknown haulier
    f"{H2},粤A5B721,20,33,否,013800138005,2029-13-31\n"  # 7 repeats line 2; bad date
    f"{H2},粤AD36891,1.5,1,否,013800138003,2030-05-31\n"  # 8 terminal repeats line 5
)


def test_all_or_nothing_lists_every_bad_row_and_writes_nothing(
    session: Session, engine: Engine, hauliers, tmp_path: Path
):
    path = write(tmp_path, "vehicles.csv", BAD_VEHICLES)
    with pytest.raises(ValidationFailed) as exc:
        import_file(session, "vehicles", path)
    assert located(exc) == [
        (3, "plate"),
        (6, "haulier_credit_code"),
        (7, "inspection_valid_until"),
        (7, "plate"),
        (8, "terminal_id"),
    ]
    assert exc.value.zh == "导入失败：4 行有误，未写入任何记录"
    problems = {(p.line, p.field): p for p in exc.value.problems}
    assert problems[(7, "plate")].zh == "车牌号与第 2 行重复：粤A5B721"
    assert problems[(8, "terminal_id")].en == "terminal id repeats line 5: 013800138003"
    assert problems[(6, "haulier_credit_code")].zh == "运输企业未登记：91440111MA5AR8QH6M"
    assert {p.source for p in exc.value.problems} == {str(path)}
    session.rollback()
    assert count(engine, Vehicle) == 0


def test_skip_invalid_imports_good_rows_and_writes_rejects(
    session: Session, engine: Engine, hauliers, tmp_path: Path
):
    path = write(tmp_path, "vehicles.csv", BAD_VEHICLES)
    report = import_file(session, "vehicles", path, skip_invalid=True)
    session.commit()
    assert (report.read, report.imported, report.rejected) == (6, 2, 4)
    assert count(engine, Vehicle) == 2
    assert report.rejects_path == tmp_path / "vehicles.csv.rejects.csv"
    with report.rejects_path.open(encoding="utf-8-sig", newline="") as f:
        rejects = list(csv.DictReader(f))
    assert [(r["line"], r["field"]) for r in rejects] == [
        ("3", "plate"),
        ("6", "haulier_credit_code"),
        ("7", "inspection_valid_until"),
        ("7", "plate"),
        ("8", "terminal_id"),
    ]
    assert json.loads(rejects[0]["raw"])["plate"] == "粤AI8823"
    assert rejects[0]["en"] == "invalid plate '粤AI8823': plates never use the letters I and O"
    # Line 8 was rejected for its terminal only: the good line 5 that it repeats was imported.
    assert services.get_vehicle_by_plate(session, "粤AD36891") is None
    assert services.get_vehicle_by_terminal(session, "013800138003").plate == "粤A26918D"


def test_duplicates_against_the_database_are_row_errors(
    session: Session, engine: Engine, hauliers, tmp_path: Path
):
    first = write(tmp_path, "a.csv", f"{VEHICLE_HEADER}\n{H1},粤A5B721,18,31,是,,2029-09-30\n")
    import_file(session, "vehicles", first)
    session.commit()
    again = write(
        tmp_path,
        "b.csv",
        f"{VEHICLE_HEADER}\n{H1},粤AK8823,18,31,是,,2029-09-30\n{H2},粤A·5B721,18,31,是,,2029-09-30\n",
    )
    rejects = tmp_path / "out" / "rejects.csv"
    report = import_file(session, "vehicles", again, skip_invalid=True, rejects_path=rejects)
    session.commit()
    assert (report.imported, report.rejected) == (1, 1)
    assert [(p.line, p.field, p.zh) for p in report.problems] == [
        (3, "plate", "车牌号已登记（运输车辆编号 1）：粤A5B721")
    ]
    assert rejects.is_file()
    assert count(engine, Vehicle) == 2


def test_facilities_csv_with_labels_and_multiline_geofence(session: Session, tmp_path: Path):
    fence = json.dumps(square(113.40, 23.62, 300), indent=1)  # spans many lines, quoted
    bow_tie = json.dumps(
        {
            "type": "Polygon",
            "coordinates": [
                [
                    [113.58, 23.55],
                    [113.59, 23.56],
                    [113.59, 23.55],
                    [113.58, 23.56],
                    [113.58, 23.55],
                ]
            ],
        }
    )
    quoted = '"' + fence.replace('"', '""') + '"'
    text = (
        "name,kind,geofence,capacity_m3,accepted_categories,opening_hours\n"
        f"鳌头消纳场,消纳场,{quoted},1200000,工程渣土;工程垃圾,07:00-22:00\n"
        f"""坏围栏,recycling,"{bow_tie.replace('"', '""')}",1000,demolition,06:00-23:00\n"""
    )
    path = write(tmp_path, "facilities.csv", text)
    second_line = 2 + fence.count("\n") + 1
    with pytest.raises(ValidationFailed) as exc:
        import_file(session, "facilities", path)
    [problem] = exc.value.problems
    assert (problem.line, problem.field) == (second_line, "geofence")
    assert problem.zh.startswith("多边形自相交")

    report = import_file(session, "facilities", path, skip_invalid=True)
    got = services.get(session, DisposalFacility, report.ids[0])
    assert got.kind == FacilityKind.landfill
    assert got.accepted_categories == [WasteCategory.excavated_soil, WasteCategory.construction]
    assert got.geofence == square(113.40, 23.62, 300)


def test_json_file_reports_the_line_each_object_starts_on(
    session: Session, engine: Engine, hauliers, tmp_path: Path
):
    rows = [
        {"haulier_credit_code": H1, "name": "陈志强", "licence_no": "440184198503120318"},
        {"haulier_credit_code": H1, "name": "李建华", "licence_no": "440184198503120318"},
        {"haulier_credit_code": H2, "name": "", "licence_no": "440111197911084512", "phone": "abc"},
        {"haulier_credit_code": H2, "name": "黄伟明", "licence_no": "440117199002273016", "car": 1},
    ]
    text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False, indent=2) for r in rows) + "\n]\n"
    path = write(tmp_path, "drivers.json", text)
    starts = [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith("{")]
    assert starts == [2, 7, 12, 18]
    with pytest.raises(ValidationFailed) as exc:
        import_file(session, "drivers", path)
    assert located(exc) == [(7, "licence_no"), (12, "name"), (12, "phone"), (18, "car")]
    session.rollback()
    assert count(engine, Haulier) == 2
    from cdw.registry.models import Driver

    assert count(engine, Driver) == 0


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='a粤\n\\"[]{},:'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(_JSON_VALUES, max_size=8),
    indent=st.none() | st.integers(0, 3),
    gaps=st.lists(st.sampled_from(["", " ", "\n", "\r\n", "\n\t\n"]), min_size=10, max_size=10),
)
def test_json_item_lines_are_where_each_element_starts(items, indent, gaps):
    """Each element's line, counted in one pass, is the line a reader counts from the top of
    the file to the element's first character, for any layout and any strings inside."""
    parts = [json.dumps(item, ensure_ascii=False, indent=indent) for item in items]
    text = gaps[0] + "[" + "".join(f"{gaps[(i + 1) % 10]}{p}," for i, p in enumerate(parts))
    text = (text[:-1] if parts else text) + gaps[9] + "]\n"
    assert json.loads(text) == items
    starts, pos = [], text.index("[") + 1
    for part in parts:
        pos = text.index(part, pos)
        starts.append(text.count("\n", 0, pos) + 1)
        pos += len(part)
    assert json_item_lines(text) == starts


def test_json_item_lines_of_a_city_vehicles_file():
    """10,000 objects, a city's vehicles file (counting each one's line from the top of the
    file took seconds at this size): each object's line."""
    rows = [{"plate": f"粤A{i:05d}", "rated_capacity_m3": 20} for i in range(10_000)]
    text = json.dumps(rows, ensure_ascii=False, indent=2)
    assert json_item_lines(text) == [2 + 4 * i for i in range(10_000)]


@pytest.mark.parametrize(
    ("name", "text", "zh_part"),
    [
        ("v.csv", "plate,colour\n粤A12345,red\n", "未知的列：colour"),
        ("v.csv", "plate,plate\n粤A12345,粤A12346\n", "重复的列：plate"),
        ("v.csv", "\n\n", "文件为空"),
        ("v.json", '{"plate": "粤A12345"}', "应为对象列表"),
        ("v.json", "[{,]", "JSON 格式错误"),
        ("v.xlsx", "not a workbook", "不是有效的 Excel"),
        ("v.txt", "", "仅支持 .csv、.json 和 .xlsx"),
    ],
)
def test_unreadable_files_are_input_file_errors(
    session: Session, tmp_path: Path, name, text, zh_part
):
    with pytest.raises(InputFileError) as exc:
        import_file(session, "vehicles", write(tmp_path, name, text))
    assert zh_part in exc.value.zh


def test_missing_file_wrong_encoding_and_unknown_kind(session: Session, tmp_path: Path):
    with pytest.raises(InputFileError, match="file not found"):
        import_file(session, "vehicles", tmp_path / "none.csv")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("name\n工地\n".encode("gbk"))
    with pytest.raises(InputFileError, match="not UTF-8"):
        import_file(session, "sites", gbk)
    with pytest.raises(InputFileError, match="unknown registry kind"):
        import_file(session, "trucks", gbk)


def test_row_with_more_cells_than_header(session: Session, hauliers, tmp_path: Path):
    path = write(tmp_path, "v.csv", f"{VEHICLE_HEADER}\n{H1},粤A5B721,18,31,是,,2029-09-30,extra\n")
    with pytest.raises(ValidationFailed) as exc:
        import_file(session, "vehicles", path)
    assert located(exc) == [(2, "*")]


def test_every_kind_documents_its_columns():
    assert KINDS["vehicles"].columns[0] == "haulier_credit_code"
    assert "haulier_id" not in KINDS["depots"].columns
    assert "haulier_credit_code" not in KINDS["sites"].columns


def test_cli_import_command(engine: Engine, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(registry_cli, "session_scope", lambda: session_scope(engine))
    app = typer.Typer()
    app.command()(registry_cli.import_command)
    runner = CliRunner()
    bad = write(
        tmp_path,
        "h.csv",
        "name,credit_code,licence_no,licence_valid_until\n甲,91440300708461136A,L1,2030-01-01\n",
    )
    result = runner.invoke(app, ["hauliers", str(bad)])
    assert result.exit_code == 1
    assert "h.csv:2 [credit_code]" in result.output
    assert "末位应为 T" in result.output
    assert count(engine, Haulier) == 0

    result = runner.invoke(
        app, ["hauliers", str(bad), "--skip-invalid", "--rejects", str(tmp_path / "r.csv")]
    )
    assert result.exit_code == 0, result.output
    assert "read 1, imported 0, rejected 1" in result.output
    assert (tmp_path / "r.csv").is_file()

    good = write(
        tmp_path,
        "g.csv",
        "name,credit_code,licence_no,licence_valid_until\n甲,91440300708461136T,L1,2030-01-01\n",
    )
    result = runner.invoke(app, ["hauliers", str(good)])
    assert result.exit_code == 0, result.output
    assert count(engine, Haulier) == 1


SITE_HEADER = "code,name,project_permit_no,builder,contractor,geofence,expected_volume_m3"


def _site_row(code: str, name: str, lon: float) -> str:
    fence = json.dumps(square(lon, 23.55)).replace('"', '""')
    return f'{code},{name},P1,甲,乙,"{fence}",1000\n'


def test_sites_may_share_a_name_and_codes_are_given_or_generated(
    session: Session, engine: Engine, tmp_path: Path
):
    path = write(
        tmp_path,
        "sites.csv",
        SITE_HEADER
        + "\n"
        + _site_row("", "街口旧改项目", 113.58)  # line 2: no code
        + _site_row("S000001", "街口旧改项目", 113.60)  # line 3: the code line 2 would get
        + _site_row("JK-3", "街口旧改项目", 113.62),
    )
    report = import_file(session, "sites", path)
    session.commit()
    sites = [services.get(session, ConstructionSite, i) for i in report.ids]  # in file order
    # rows with a code are stored first, so line 2 is id 3 and gets S000003
    assert [(s.id, s.code) for s in sites] == [(3, "S000003"), (1, "S000001"), (2, "JK-3")]
    assert {s.name for s in sites} == {"街口旧改项目"}
    assert count(engine, ConstructionSite) == 3


def test_imported_sites_without_a_code_skip_the_codes_taken_and_audit_their_own(
    session: Session, tmp_path: Path
):
    """Generated in bulk as one at a time: the kind's letter and id, then -2, -3 … past the
    codes stored records hold; each record's creation entry (written in bulk) has the code it
    got, and the audit chain holds."""
    for code in ("S000003", "S000003-2"):  # ids 1 and 2: the code id 3 would get, and its -2
        services.create(session, ConstructionSite, site_in(code=code))
    session.commit()
    path = write(
        tmp_path,
        "sites.csv",
        SITE_HEADER
        + "\n"
        + _site_row("", "一期", 113.58)  # id 3
        + _site_row("", "二期", 113.60),  # id 4
    )
    report = import_file(session, "sites", path, actor="importer")
    session.commit()
    sites = [services.get(session, ConstructionSite, i) for i in report.ids]
    assert [(s.id, s.code) for s in sites] == [(3, "S000003-3"), (4, "S000004")]
    entries = session.exec(
        select(AuditEntry).where(AuditEntry.actor == "importer").order_by(AuditEntry.id)
    ).all()
    assert [(e.entity_id, e.action, e.data["code"]) for e in entries] == [
        ("3", "create", "S000003-3"),
        ("4", "create", "S000004"),
    ]
    services.create(session, ConstructionSite, site_in(code="S000005"))  # the chain goes on
    session.commit()
    assert verify_chain(session) == []


def test_duplicate_and_invalid_codes_name_line_and_field(session: Session, tmp_path: Path):
    services.create(session, ConstructionSite, site_in(code="OLD-1"))
    session.commit()
    path = write(
        tmp_path,
        "sites.csv",
        SITE_HEADER
        + "\n"
        + _site_row("A-1", "一期", 113.58)
        + _site_row("A-1", "二期", 113.60)  # line 3 repeats line 2
        + _site_row("OLD-1", "三期", 113.62)  # line 4 already stored
        + _site_row("A 4", "四期", 113.64),  # line 5 not a code
    )
    with pytest.raises(ValidationFailed) as exc:
        import_file(session, "sites", path)
    assert located(exc) == [(3, "code"), (4, "code"), (5, "code")]
    said = {p.line: (p.zh, p.en) for p in exc.value.problems}
    assert said[3] == ("编码与第 2 行重复：A-1", "code repeats line 2: A-1")
    assert said[4] == (
        "编码已登记（排放工地编号 1）：OLD-1",
        "code already registered (construction site 1): OLD-1",
    )
    assert said[5][1] == "a code is 1-40 letters, digits, '.', '_' or '-': 'A 4'"


def test_a_row_without_code_repeating_name_and_fence_is_a_duplicate(
    session: Session, tmp_path: Path
):
    rows = _site_row("", "一期", 113.58) + _site_row("", "一期", 113.60)
    path = write(tmp_path, "sites.csv", f"{SITE_HEADER}\n{rows}")
    import_file(session, "sites", path)
    session.commit()
    again = write(tmp_path, "again.csv", f"{SITE_HEADER}\n{rows}{_site_row('', '一期', 113.60)}")
    with pytest.raises(ValidationFailed) as exc:
        import_file(session, "sites", again)
    assert [(p.line, p.field, p.en) for p in exc.value.problems] == [
        (2, "name", "name and geofence already registered (construction site S000001): 一期 "
         "(give a code if it is another place)"),
        (3, "name", "name and geofence already registered (construction site S000002): 一期 "
         "(give a code if it is another place)"),
        (4, "name", "name and geofence repeat line 3: 一期 (give a code if it is another place)"),
    ]  # fmt: skip


def test_load_sensor_in_csv_and_json(session: Session, hauliers, tmp_path: Path):
    path = write(
        tmp_path,
        "vehicles.csv",
        f"{VEHICLE_HEADER},load_sensor\n"
        f"{H1},粤A5B721,18,31,是,,2029-09-30,无\n"
        f"{H1},粤AK8823,18,31,是,,2029-09-30,true\n"
        f"{H1},粤A26918D,18,31,是,,2029-09-30,\n"  # blank: default
        f"{H1},粤A07735F,18,31,是,,2029-09-30,maybe\n",
    )
    with pytest.raises(ValidationFailed) as exc:
        import_file(session, "vehicles", path)
    [problem] = exc.value.problems
    assert (problem.line, problem.field, problem.zh) == (
        5,
        "load_sensor",
        "应为是/否（true/false）",
    )
    report = import_file(session, "vehicles", path, skip_invalid=True)
    got = [services.get(session, Vehicle, i).load_sensor for i in report.ids]
    assert got == [False, True, True]

    rows = [
        {"haulier_credit_code": H2, "plate": "粤AD36891", "rated_capacity_m3": 1.5,
         "rated_load_t": 1, "inspection_valid_until": "2030-05-31", "load_sensor": False},
        {"haulier_credit_code": H2, "plate": "粤A3X517", "rated_capacity_m3": 16,
         "rated_load_t": 28, "inspection_valid_until": "2029-07-31", "load_sensor": "否"},
    ]  # fmt: skip
    path = write(tmp_path, "vehicles.json", json.dumps(rows, ensure_ascii=False))
    report = import_file(session, "vehicles", path)
    assert [services.get(session, Vehicle, i).load_sensor for i in report.ids] == [False, False]


def test_xlsx_workbook_rows_are_numbered_as_excel_shows_them(
    session: Session, hauliers, tmp_path: Path
):
    book = Workbook()
    sheet = book.active
    sheet.append([*VEHICLE_HEADER.split(","), "load_sensor"])  # row 1
    sheet.append([H1, "粤A5B721", 18, 31.5, True, "013800138001", datetime(2029, 9, 30), False])
    sheet.append([])  # row 3: blank
    sheet.append([H1, "粤AK8823", 16.5, 29, "是", None, date(2029, 8, 31), "有"])  # row 4
    sheet.append([H2, "粤A26918D", 17, 30, "否", None, "2030-01-31", "maybe"])  # row 5
    path = tmp_path / "vehicles.xlsx"
    book.save(path)

    with pytest.raises(ValidationFailed) as exc:
        import_file(session, "vehicles", path)
    assert located(exc) == [(5, "load_sensor")]
    report = import_file(session, "vehicles", path, skip_invalid=True)
    first, second = (services.get(session, Vehicle, i) for i in report.ids)
    assert (first.plate, first.rated_load_t, first.sealed_body) == ("粤A5B721", 31.5, True)
    assert (first.terminal_id, first.inspection_valid_until) == ("013800138001", date(2029, 9, 30))
    assert (first.load_sensor, second.load_sensor) == (False, True)
