"""GPS CSV reader: the contract of DESIGN.md §5, exact line numbers for every kind of bad row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.errors import InputFileError
from cdw.tracking.io import csv as csv_reader
from cdw.tracking.io import iter_points, read_points
from cdw.tracking.io.coords import gcj02_to_wgs84, wgs84_to_gcj02
from cdw.tracking.points import POINTS_SCHEMA

HEADER = "plate,ts,lon,lat,speed_kmh,heading,status,alarm\n"


def write(tmp_path: Path, text: str, name: str = "track.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_happy_path_exact_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "粤A12345,2024-05-01T08:00:00+08:00,113.264,23.13,35.5,90,768,0\n"
        + "粤A12345,1714521610,113.265,23.131,36,91.5,0x300,1\n"
        + "粤AD12345,2024-05-01T00:00:20.250Z,113.1,23.2,,,,\n"
        + "粤A12345D,2024-05-01 08:00:30+0800,113.2,23.3,0,0,4294967295,4294967295\n",
    )
    result = read_points(path)
    assert result.rejects == []
    assert result.points.schema == pl.Schema(POINTS_SCHEMA)
    assert result.points.to_dicts() == [
        {
            "vehicle": "粤A12345",
            "ts": datetime(2024, 5, 1, 0, 0, 0, tzinfo=UTC),
            "lon": 113.264,
            "lat": 23.13,
            "speed_kmh": 35.5,
            "heading": 90.0,
            "status": 768,
            "alarm": 0,
        },
        {
            "vehicle": "粤A12345",
            "ts": datetime(2024, 5, 1, 0, 0, 10, tzinfo=UTC),
            "lon": 113.265,
            "lat": 23.131,
            "speed_kmh": 36.0,
            "heading": 91.5,
            "status": 768,
            "alarm": 1,
        },
        {
            "vehicle": "粤AD12345",
            "ts": datetime(2024, 5, 1, 0, 0, 20, 250000, tzinfo=UTC),
            "lon": 113.1,
            "lat": 23.2,
            "speed_kmh": None,
            "heading": None,
            "status": None,
            "alarm": None,
        },
        {
            "vehicle": "粤A12345D",
            "ts": datetime(2024, 5, 1, 0, 0, 30, tzinfo=UTC),
            "lon": 113.2,
            "lat": 23.3,
            "speed_kmh": 0.0,
            "heading": 0.0,
            "status": 4294967295,
            "alarm": 4294967295,
        },
    ]


def test_minimal_columns_any_order_and_case(tmp_path: Path) -> None:
    path = write(tmp_path, "LAT, Lon ,TS,Plate,note\n23.1,113.2,1714521600,粤a·12345,hello\n")
    result = read_points(path)
    assert result.rejects == []
    assert result.points.row(0) == (
        "粤A12345",
        datetime(2024, 5, 1, tzinfo=UTC),
        113.2,
        23.1,
        None,
        None,
        None,
        None,
    )


def test_gbk_bom_and_crlf(tmp_path: Path) -> None:
    text = "plate,ts,lon,lat\r\n京A12345,2024-05-01T08:00:00+08:00,116.4,39.9\r\n"
    gbk = read_points(write(tmp_path, text, "gbk.csv", encoding="gbk"))
    bom = read_points(write(tmp_path, "\ufeff" + text, "bom.csv"))
    for result in (gbk, bom):
        assert result.rejects == []
        assert result.points["vehicle"].to_list() == ["京A12345"]
        assert result.points["lat"].to_list() == [39.9]


def test_each_bad_row_kind_with_line_numbers(tmp_path: Path) -> None:
    rows = [
        "粤A12345,2024-05-01T08:00:00+08:00,113.2,23.1,,,,",  # line 2 good
        "粤A12345,2024-05-01T08:00:10+08:00,abc,23.1,,,,",  # 3 lon not a number
        "粤A12345,2024-05-01T08:00:20+08:00,113.2,NaN,,,,",  # 4 lat NaN
        "粤A12345,2024-05-01T08:00:30+08:00,180.5,23.1,,,,",  # 5 lon out of range
        "粤A12345,yesterday,113.2,23.1,,,,",  # 6 unparsable ts
        ",2024-05-01T08:00:50+08:00,113.2,23.1,,,,",  # 7 missing plate
        "粤A1234I,2024-05-01T08:01:00+08:00,113.2,23.1,,,,",  # 8 invalid plate (letter I)
        "粤A12345,2024-05-01T08:01:10,113.2,23.1,,,,",  # 9 no UTC offset
        "粤A12345,1714521600000,113.2,23.1,,,,",  # 10 epoch in milliseconds
        "粤A12345,2024-05-01T08:01:30+08:00,113.2,23.1,-3,,,",  # 11 negative speed
        "粤A12345,2024-05-01T08:01:40+08:00,113.2,23.1,,361,,",  # 12 heading out of range
        "粤A12345,2024-05-01T08:01:50+08:00,113.2,23.1,,,4294967296,",  # 13 status too big
        "粤A12345,2024-05-01T08:02:00+08:00,113.2,23.1,,,,1.5",  # 14 alarm not an integer
        "粤A12345,2024-05-01T08:02:10+08:00,,23.1,,,,",  # 15 missing lon
        "粤A12345,2024-02-30T08:02:20+08:00,113.2,23.1,,,,",  # 16 impossible date
        "粤A12345,2024-05-01T08:02:30+08:00,113.2,23.1,,,,",  # 17 good
    ]
    result = read_points(write(tmp_path, HEADER + "\n".join(rows) + "\n"))
    assert [(r.line, r.field) for r in result.rejects] == [
        (3, "lon"),
        (4, "lat"),
        (5, "lon"),
        (6, "ts"),
        (7, "plate"),
        (8, "plate"),
        (9, "ts"),
        (10, "ts"),
        (11, "speed_kmh"),
        (12, "heading"),
        (13, "status"),
        (14, "alarm"),
        (15, "lon"),
        (16, "ts"),
    ]
    assert result.rejected_rows == 14
    assert result.points["ts"].to_list() == [
        datetime(2024, 5, 1, 0, 0, 0, tzinfo=UTC),
        datetime(2024, 5, 1, 0, 2, 30, tzinfo=UTC),
    ]
    by_line = {r.line: r for r in result.rejects}
    assert by_line[3].en == "longitude is not a number: abc"
    assert by_line[3].zh == "经度不是数字：abc"
    assert by_line[4].en == "latitude is NaN"
    assert by_line[5].en == "longitude out of range [-180, 180]: 180.5"
    assert by_line[6].en.startswith("cannot parse timestamp: yesterday")
    assert by_line[7].en == "missing plate"
    assert "I and O" in by_line[8].en
    assert by_line[9].en.startswith("timestamp has no UTC offset: 2024-05-01T08:01:10")
    assert "milliseconds" in by_line[10].en
    assert by_line[11].en == "speed must not be negative: -3"
    assert by_line[13].en == "status is not an integer in 0–4294967295: 4294967296"
    assert by_line[15].en == "missing longitude"
    assert all(r.source == str(tmp_path / "track.csv") for r in result.rejects)
    assert by_line[3].raw == rows[1]


def test_one_row_with_several_problems_gives_one_reject_each(tmp_path: Path) -> None:
    result = read_points(write(tmp_path, "plate,ts,lon,lat\n粤A12345,x,y,z\n"))
    assert [(r.line, r.field) for r in result.rejects] == [(2, "ts"), (2, "lon"), (2, "lat")]
    assert result.rejected_rows == 1


def test_near_misses_are_accepted(tmp_path: Path) -> None:
    rows = [
        "粤A12345,2000-01-01T00:00:00Z,-180,-90,0,360,0,0",
        "粤A12345,2099-12-31T23:59:59Z,180,90,0,0,4294967295,0",
        "粤A12345,946684800,0.000001,0,0,0,0,0",
    ]
    result = read_points(write(tmp_path, HEADER + "\n".join(rows) + "\n"))
    assert result.rejects == []
    assert result.points.height == 3


def test_naive_time_with_explicit_zone(tmp_path: Path) -> None:
    path = write(tmp_path, "plate,ts,lon,lat\n粤A12345,2024-05-01 08:00:00,113.2,23.1\n")
    assert [r.field for r in read_points(path).rejects] == ["ts"]
    result = read_points(path, tz="Asia/Shanghai")
    assert result.rejects == []
    assert result.points["ts"].to_list() == [datetime(2024, 5, 1, 0, 0, tzinfo=UTC)]


def test_wrong_column_count_is_a_rejected_line(tmp_path: Path) -> None:
    text = (
        "plate,ts,lon,lat\n"
        "粤A12345,1714521600,113.2,23.1\n"  # 2
        "粤A12345,1714521610,113.2\n"  # 3 too few
        "\n"  # 4 blank: skipped silently
        "粤A12345,1714521620,113.2,23.1,9\n"  # 5 too many
        "粤A12345,1714521630,113.2,x\n"  # 6 bad latitude
    )
    result = read_points(write(tmp_path, text))
    assert [(r.line, r.field) for r in result.rejects] == [(3, "row"), (5, "row"), (6, "lat")]
    assert result.rejects[0].en == "expected 4 fields, got 3"
    assert result.rejects[0].raw == "粤A12345,1714521610,113.2"
    assert result.points.height == 1


def test_quoted_newline_keeps_line_numbers_physical(tmp_path: Path) -> None:
    text = (
        "plate,ts,lon,lat\n"
        '"粤A12345","2024-05-01\nT08",113.2,23.1\n'  # lines 2-3
        "粤A12345,1714521600,113.2,23.1,1\n"  # 4 too many fields
        "粤A12345,1714521600,oops,23.1\n"  # 5
    )
    result = read_points(write(tmp_path, text))
    assert [(r.line, r.field) for r in result.rejects] == [(2, "ts"), (4, "row"), (5, "lon")]
    assert result.rejects[0].en.startswith("cannot parse timestamp: 2024-05-01\\nT08")


def test_missing_required_header_is_a_file_error(tmp_path: Path) -> None:
    path = write(tmp_path, "plate,time,lon,lat\n粤A12345,1714521600,113.2,23.1\n")
    with pytest.raises(InputFileError) as err:
        read_points(path)
    assert err.value.extra == {"file": str(path), "line": 1}
    assert "header lacks required column(s): ts" in err.value.en
    assert "表头缺少必需列：ts" in err.value.zh


def test_headerless_file_is_a_file_error(tmp_path: Path) -> None:
    path = write(tmp_path, "粤A12345,1714521600,113.2,23.1\n")
    with pytest.raises(InputFileError, match="plate, ts, lon, lat"):
        read_points(path)


def test_duplicate_header_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="repeats column"):
        read_points(write(tmp_path, "plate,ts,lon,lat,lat\n", "dup.csv"))
    with pytest.raises(InputFileError, match="empty"):
        read_points(write(tmp_path, "\n  \n", "empty.csv"))


def test_gcj02_source_is_converted(tmp_path: Path) -> None:
    gcj_lon, gcj_lat = wgs84_to_gcj02(113.264, 23.13)
    path = write(
        tmp_path, f"plate,ts,lon,lat\n粤A12345,1714521600,{float(gcj_lon)},{float(gcj_lat)}\n"
    )
    result = read_points(path, crs="gcj02")
    lon, lat = result.points.row(0)[2:4]
    assert lon == pytest.approx(113.264, abs=1e-9)
    assert lat == pytest.approx(23.13, abs=1e-9)
    back = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert (lon, lat) == (float(back[0]), float(back[1]))


def test_unknown_crs_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "plate,ts,lon,lat\n粤A12345,1714521600,113.2,23.1\n")
    with pytest.raises(ValueError, match="bd09"):
        read_points(path, crs="bd09")


# ------------------------------------------------------------------ chunks


def test_chunks_put_together_equal_the_whole_file(tmp_path: Path) -> None:
    text = (
        "plate,ts,lon,lat,note\n"
        '粤A12345,1714521600,113.2,23.1,"two\nlines"\n'  # 2-3: newline in an ignored column
        "粤A12345,1714521610,113.2\n"  # 4 too few
        "\n"  # 5 blank
        '"粤A12345","2024-05-01\nT08",113.2,23.1,x\n'  # 6-7
        "粤A12345,1714521620,oops,23.1,x\n"  # 8
        "粤A12345,1714521630,113.2,23.1,x\n"  # 9
    )
    path = write(tmp_path, text)
    whole = read_points(path)
    assert [(r.line, r.field) for r in whole.rejects] == [(4, "row"), (6, "ts"), (8, "lon")]
    assert whole.rejects[2].raw == "粤A12345,1714521620,oops,23.1,x"
    for chunk_rows in (1, 2, 3):
        assert len(list(iter_points(path, chunk_rows=chunk_rows))) > 1
        chunked = read_points(path, chunk_rows=chunk_rows)
        assert chunked.points.equals(whole.points)
        assert chunked.rejects == whole.rejects
        assert chunked.rejected_rows == whole.rejected_rows


def test_gbk_after_ascii_lines_and_mixed_encodings(tmp_path: Path) -> None:
    ascii_rows = ",1714521600,113.2,23.1\n" * 3  # plate missing: plain ASCII
    text = "plate,ts,lon,lat\n" + ascii_rows + "京A12345,1714521600,116.4,39.9\n"
    gbk = write(tmp_path, text, "gbk.csv", encoding="gbk")
    whole = read_points(gbk)
    assert whole.points["vehicle"].to_list() == ["京A12345"]
    chunked = read_points(gbk, chunk_rows=1)
    assert chunked.points.equals(whole.points)
    assert chunked.rejects == whole.rejects
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(
        "plate,ts,lon,lat\n粤A12345,1714521600,113.2,23.1\n".encode()
        + "京A12345,1714521600,116.4,39.9\n".encode("gbk")
    )
    assert read_points(mixed).rejects  # one block: GB18030 reads the UTF-8 plate as garbage
    with pytest.raises(InputFileError, match="mixed text encodings") as err:
        read_points(mixed, chunk_rows=1)
    assert err.value.extra["line"] == 3


_FIELD = st.sampled_from(
    ["粤A12345", "", " ", "1714521600", "2024-05-01T08:00:00+08:00", "113.2", "23.1", "x", "NaN"]
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(_FIELD, min_size=0, max_size=6), min_size=1, max_size=12),
    crlf=st.booleans(),
    final_newline=st.booleans(),
)
def test_plain_block_parser_agrees_with_pyarrow(
    rows: list[list[str]], crlf: bool, final_newline: bool
) -> None:
    """The fast parser of quote-free blocks (polars after a vectorised field count) and the
    pyarrow parser give the same rows, lines and rejects."""
    eol = "\r\n" if crlf else "\n"
    text = (eol.join(",".join(r) for r in rows) + (eol if final_newline else "")).encode()
    state = csv_reader._State(["plate", "ts", "lon", "lat"], "utf-8")
    plain_raw, plain_rejects, plain_newlines = csv_reader._parse_plain(text, 7, state, "f")
    arrow_raw, arrow_rejects = csv_reader._parse_quoted(text, 7, state, "f")
    blank = pl.all_horizontal(pl.col(c) == "" for c in state.wanted)
    assert plain_raw.filter(~blank).equals(arrow_raw.filter(~blank))
    assert plain_rejects == arrow_rejects
    assert plain_newlines == text.count(b"\n")


@settings(max_examples=150, deadline=None)
@given(
    counts=st.lists(st.integers(2, 6), min_size=1, max_size=10),
    moves=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=3),
    field=_FIELD,
    crlf=st.booleans(),
    final_newline=st.booleans(),
    extra_column=st.booleans(),
)
def test_block_read_whole_agrees_with_the_line_by_line_count(
    counts: list[int],
    moves: list[tuple[int, int]],
    field: str,
    crlf: bool,
    final_newline: bool,
    extra_column: bool,
) -> None:
    """A block whose commas add up to the header's count on every line is read whole by
    polars; lines that make up for each other's missing and extra fields (the same total)
    must still be found: the result is the line-by-line parser's."""
    header = ["plate", "ts", "lon", "lat", *(["driver"] if extra_column else [])]
    fields = [len(header)] * len(counts)
    for take, give in moves:  # one line's field moved to another: the total stays
        if take < len(fields) and give < len(fields) and fields[take] > 1:
            fields[take] -= 1
            fields[give] += 1
    fields = [f if i % 3 else c for i, (f, c) in enumerate(zip(fields, counts, strict=True))]
    eol = "\r\n" if crlf else "\n"
    rows = [",".join([field] * n) for n in fields]
    text = (eol.join(rows) + (eol if final_newline else "")).encode()
    state = csv_reader._State(header, "utf-8")
    raw, rejects, newlines = csv_reader._parse_plain(text, 5, state, "f")
    counted_raw, counted_rejects, counted_newlines = csv_reader._parse_counted(text, 5, state, "f")
    assert raw.equals(counted_raw)
    assert rejects == counted_rejects
    assert newlines == counted_newlines == text.count(b"\n")
    if all(f == len(header) for f in fields):
        assert raw.height == len(fields) and not rejects


@settings(max_examples=100, deadline=None)
@given(
    body=st.text(alphabet='ab,"\n\r粤', max_size=200),
    target=st.integers(1, 40),
)
def test_blocks_cut_whole_records_only(
    tmp_path_factory: pytest.TempPathFactory, body: str, target: int
) -> None:
    """The blocks put together are the file after the header, and each ends after a newline
    outside quotes (an even number of quotes in the block before it), or at the file's end."""
    path = tmp_path_factory.mktemp("blocks") / "b.csv"
    data = b"plate,ts,lon,lat\n" + body.encode()
    path.write_bytes(data)
    with open(path, "rb") as handle:
        _, rest = csv_reader._open(handle, "b.csv")
        blocks = list(csv_reader._blocks(handle, rest, target))
    assert b"".join(blocks) == data[17:]
    for block in blocks[:-1]:
        assert block.endswith(b"\n") and block.count(b'"') % 2 == 0


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=64),
        st.text(max_size=32).map(lambda t: t.encode("utf-8")),
        st.text(alphabet="粤湘A0,.:-T+", max_size=16).map(lambda t: t.encode("gb18030")),
        st.tuples(
            st.text(max_size=8),
            st.sampled_from([b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe4\xb8"]),
            st.text(max_size=8),
        ).map(lambda p: p[0].encode("utf-8") + p[1] + p[2].encode("utf-8")),
    )
)
def test_utf8_check_agrees_with_python_decoding(data: bytes) -> None:
    """Twin: the block's UTF-8 check without decoding it, against ``bytes.decode``
    (overlongs, surrogates, code points past U+10FFFF, GB18030 bytes, NUL)."""
    try:
        data.decode("utf-8")
        decodes = True
    except UnicodeDecodeError:
        decodes = False
    assert csv_reader.is_utf8(data) == decodes
