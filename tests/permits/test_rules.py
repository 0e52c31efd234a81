"""The permit's rules: its hours (parsed, tested, labelled), thresholds and routes."""

import pytest

from cdw.config import Thresholds
from cdw.errors import ValidationFailed
from cdw.permits.rules import effective_thresholds, hours_label, parse_hours, within_hours


@pytest.mark.parametrize(
    ("start", "end", "window"),
    [
        ("06:00", "22:00", (21600.0, 79200.0)),
        ("22:00", "06:00", (79200.0, 21600.0)),
        ("00:00", "24:00", None),
        ("07:30", "07:30", None),
        ("20:00", "24:00", (72000.0, 0.0)),
    ],
)
def test_parse_hours(start, end, window):
    assert parse_hours(start, end, "permit P") == window


def test_bad_hours_name_field_and_permit():
    with pytest.raises(ValidationFailed) as err:
        parse_hours("25:00", "7", "permit P-1")
    fields = [(p.field, p.source) for p in err.value.problems]
    assert fields == [("allowed_hours_start", "permit P-1"), ("allowed_hours_end", "permit P-1")]
    assert "HH:MM" in err.value.problems[0].zh and "HH:MM" in err.value.problems[0].en


def test_effective_thresholds_apply_corridor_then_overrides():
    base = Thresholds()
    got = effective_thresholds(base, {"speed_limit_kmh": 40}, 80.0, "permit P")
    assert (got.speed_limit_kmh, got.corridor_half_width_m) == (40, 80.0)
    got = effective_thresholds(base, {"corridor_half_width_m": 30}, 80.0, "permit P")
    assert got.corridor_half_width_m == 30
    assert effective_thresholds(base, {}, None, "permit P") == base


def test_unknown_or_bad_override_is_refused():
    with pytest.raises(ValidationFailed) as err:
        effective_thresholds(Thresholds(), {"speed_limt_kmh": 40}, None, "permit P-2")
    assert err.value.problems[0].field == "threshold_overrides"
    assert "speed_limt_kmh" in err.value.problems[0].en
    with pytest.raises(ValidationFailed):
        effective_thresholds(Thresholds(), {"speed_limit_kmh": "fast"}, None, "permit P-2")


def test_hours_windows():
    assert within_hours(0, None)
    night = (22 * 3600.0, 6 * 3600.0)  # spans midnight
    assert within_hours(23 * 3600, night) and within_hours(0, night)
    assert not within_hours(6 * 3600, night) and not within_hours(12 * 3600, night)


def test_hours_of_many_fixes_at_once_and_their_label():
    import numpy as np

    night = (22 * 3600.0, 6 * 3600.0)
    sod = np.array([0.0, 6 * 3600.0, 12 * 3600.0, 23 * 3600.0])
    assert within_hours(sod, night).tolist() == [True, False, False, True]
    assert within_hours(sod, None).tolist() == [True] * 4
    assert hours_label(night) == "22:00-06:00"
    assert hours_label(parse_hours("07:30", "24:00", "permit P")) == "07:30-00:00"
    assert hours_label(None) == "00:00-24:00"
