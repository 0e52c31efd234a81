"""The shared row checks' fast paths give what their plain versions give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.tracking.io.raw_rows import _FAST_ISO, _split_iso, _timestamps

SUFFIXES = ("+08:00", "-05:30", "+0800", "Z", ".5+08:00", ".123456789-00:00", "+08", "")
EDGE_CASES = [
    "2026-11-20T23:59:60+08:00",  # leap second
    "2024-02-29T00:00:00+08:00",
    "2026-02-29T00:00:00+08:00",
    "2026-13-01T00:00:00+08:00",
    "2026-11-20T24:00:00+08:00",
    "2026-11-20T00:00:00+08:60",
    "2026-11-20T00:00:00+99:59",
    "2026-1-20T00:00:00+08:00",
    "+2026-11-20T00:00:00+08:00",
    "2026-11-20 00:00:00+08:00",
    "2026-11-20T00:00:00 +08:00",
    "2026-11-20T00:00:0 +08:00",
    "2026-11-20T00:00:00,5+08:00",
    "2026-11-20T00:00:00.+08:00",
    "0999-11-20T00:00:00+08:00",
    "2026-11-20T00:00:00+08:00\r",
    "1763568000",
    "",
]


def _whole(text: pl.Series) -> pl.Series:
    return text.str.to_datetime(_FAST_ISO, strict=False, time_unit="us", time_zone="UTC")


def _mutated(draw: st.DrawFn) -> str:
    moment = datetime(2000, 1, 1) + timedelta(
        seconds=draw(st.integers(0, 100 * 365 * 86_400)),
    )
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + draw(st.sampled_from(SUFFIXES))
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from("0123456789-:T +.Zz,9"))
        match draw(st.sampled_from(("replace", "insert", "delete"))):
            case "replace":
                text = text[:at] + char + text[at + 1 :]
            case "insert":
                text = text[:at] + char + text[at:]
            case _:
                text = text[:at] + text[at + 1 :]
    return text


@settings(max_examples=300)
@given(st.lists(st.composite(_mutated)(), min_size=1, max_size=40))
def test_split_parse_agrees_with_the_whole_format(texts: list[str]) -> None:
    text = pl.Series("ts", [*texts, *EDGE_CASES])
    split, whole = _split_iso(text), _whole(text)
    found = split.is_not_null()
    assert split.filter(found).equals(whole.filter(found))
    value, _ = _timestamps(text, None)
    # what _timestamps gave before the split parse: the whole format first, then the rest
    before = whole.is_not_null()
    assert value.filter(before).equals(whole.filter(before))


def test_split_parse_takes_the_usual_spellings() -> None:
    text = pl.Series(
        "ts",
        [
            "2026-11-20T08:00:12+08:00",
            "2026-11-20T00:00:12Z",
            "2026-11-20T00:00:12.25-03:00",
            "2026-11-20T08:00:12+0800",
        ],
    )
    expected = [
        datetime(2026, 11, 20, 0, 0, 12, tzinfo=UTC),
        None,  # "Z" is not an offset _FAST_ISO reads: the slower paths take it
        datetime(2026, 11, 20, 3, 0, 12, 250_000, tzinfo=UTC),
        datetime(2026, 11, 20, 0, 0, 12, tzinfo=UTC),
    ]
    assert _split_iso(text).to_list() == expected
    value, codes = _timestamps(text, None)
    assert value[1] == datetime(2026, 11, 20, 0, 0, 12, tzinfo=UTC)
    assert codes is None  # no row has an error


def test_too_many_suffix_kinds_leave_the_whole_format_to_parse() -> None:
    texts = [f"2026-11-20T08:00:00.{i:03d}+08:00" for i in range(100)]
    text = pl.Series("ts", texts)
    assert _split_iso(text).null_count() == len(texts)
    value, _ = _timestamps(text, None)
    assert value.equals(_whole(text))
