"""The evidence helpers shared by the checks (cdw/tracking/checks/__init__.py)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.tracking.checks import Events, runs


def runs_twin(mask: list[bool], cut_before: list[bool]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start = None
    for i, on in enumerate(mask):
        if start is not None and (not on or cut_before[i]):
            out.append((start, i))
            start = None
        if on and start is None:
            start = i
    if start is not None:
        out.append((start, len(mask)))
    return out


def test_runs_fixed_cases():
    mask = np.array([0, 1, 1, 1, 0, 1, 1], bool)
    cut = np.array([0, 0, 0, 1, 0, 0, 0], bool)
    starts, ends = runs(mask, cut)
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == [(1, 3), (3, 4), (5, 7)]
    none = runs(np.zeros(3, bool), np.zeros(3, bool))
    assert none[0].size == none[1].size == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=40))
def test_runs_match_the_twin(pairs):
    mask = np.array([p[0] for p in pairs], bool)
    cut = np.array([p[1] for p in pairs], bool)
    starts, ends = runs(mask, cut)
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == runs_twin(
        mask.tolist(), cut.tolist()
    )


class _Trip:
    def __init__(self, start_index: int, end_index: int):
        self.start_index, self.end_index = start_index, end_index


def test_events_belong_to_the_trip_holding_their_first_fix():
    events = Events.of(np.array([2, 5, 9]), np.array([6, 8, 12]))
    assert events.in_trip(_Trip(0, 5)) == [(2, 6)]
    assert events.in_trip(_Trip(5, 9)) == [(5, 8)]
    assert events.in_trip(_Trip(10, 20)) == []
    assert Events.of(np.array([], int), np.array([], int)).in_trip(_Trip(0, 5)) == []
