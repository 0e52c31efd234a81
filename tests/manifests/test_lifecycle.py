"""The manifest state machine: the full table of legal and illegal transitions."""

from __future__ import annotations

import itertools

import pytest

from cdw.errors import Conflict
from cdw.manifests.lifecycle import TRANSITIONS, ManifestState, can_transition, transition

S = ManifestState
LEGAL = {
    (S.issued, S.departed), (S.issued, S.overdue), (S.issued, S.void),
    (S.departed, S.arrived), (S.departed, S.overdue), (S.departed, S.void),
    (S.arrived, S.received), (S.arrived, S.partially_rejected), (S.arrived, S.rejected),
    (S.arrived, S.overdue),
    (S.received, S.closed), (S.received, S.discrepancy),
    (S.received, S.partially_rejected), (S.received, S.rejected),
    (S.partially_rejected, S.closed), (S.partially_rejected, S.discrepancy),
    (S.partially_rejected, S.received), (S.partially_rejected, S.rejected),
    (S.rejected, S.closed), (S.rejected, S.discrepancy),
    (S.rejected, S.received), (S.rejected, S.partially_rejected),
    (S.overdue, S.arrived), (S.overdue, S.received), (S.overdue, S.partially_rejected),
    (S.overdue, S.rejected), (S.overdue, S.void),
    (S.discrepancy, S.closed), (S.discrepancy, S.void),
}  # fmt: skip
ALL_PAIRS = list(itertools.product(S, S))


def test_the_table_is_exactly_the_documented_one():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == LEGAL
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_every_pair(current, target):
    if (current, target) in LEGAL:
        assert can_transition(current, target)
        assert transition(current, target) is target
    else:
        assert not can_transition(current, target)
        with pytest.raises(Conflict) as err:
            transition(current, target)
        assert err.value.http_status == 409
        assert err.value.extra["current_state"] == current.value
        assert current.zh in err.value.zh and current.en in err.value.en


def test_final_states_and_the_main_line():
    assert TRANSITIONS[S.closed] == TRANSITIONS[S.void] == frozenset()
    state = S.issued
    for target in (S.departed, S.arrived, S.received, S.closed):
        state = transition(state, target)
    assert state is S.closed


def test_a_refusal_names_the_allowed_next_states():
    with pytest.raises(Conflict) as err:
        transition(S.issued, S.received)
    assert "已开单" in err.value.zh and "已出场" in err.value.zh
    assert "issued" in err.value.en and "departed, overdue, void" in err.value.en
    with pytest.raises(Conflict) as err:
        transition(S.closed, S.void)
    assert "终态" in err.value.zh and "final state" in err.value.en
