"""The case state machine, on its own (no database)."""

from __future__ import annotations

import pytest

from cdw.enforcement.case_machine import TRANSITIONS, ActionInput, CaseAction, next_state
from cdw.enforcement.models import CaseState
from cdw.errors import Conflict, ValidationFailed

DECISION = ActionInput(penalty_amount_yuan=20000, legal_basis="《城市建筑垃圾管理规定》第二十六条")


def test_the_main_path_and_withdrawal():
    assert (
        next_state(CaseState.open, CaseAction.investigate, ActionInput()) == CaseState.investigating
    )
    assert next_state(CaseState.investigating, CaseAction.decide, DECISION) == CaseState.decided
    assert next_state(CaseState.decided, CaseAction.close, ActionInput()) == CaseState.closed
    withdraw = ActionInput(reason="证据不足")
    assert next_state(CaseState.open, CaseAction.withdraw, withdraw) == CaseState.withdrawn
    assert next_state(CaseState.investigating, CaseAction.withdraw, withdraw) == CaseState.withdrawn


@pytest.mark.parametrize("state", list(CaseState))
@pytest.mark.parametrize("action", list(CaseAction))
def test_every_other_transition_is_a_conflict(state, action):
    given = ActionInput(penalty_amount_yuan=1, legal_basis="x", reason="x")
    if (state, action) in TRANSITIONS:
        assert next_state(state, action, given) == TRANSITIONS[(state, action)]
    else:
        with pytest.raises(Conflict) as exc:
            next_state(state, action, given)
        assert state.zh in exc.value.zh and str(state) in exc.value.en


def test_closed_and_withdrawn_are_final():
    finals = {CaseState.closed, CaseState.withdrawn}
    assert not any(state in finals for state, _ in TRANSITIONS)


def test_a_decision_needs_amount_and_legal_basis():
    with pytest.raises(ValidationFailed) as exc:
        next_state(CaseState.investigating, CaseAction.decide, ActionInput(legal_basis="  "))
    assert [p.field for p in exc.value.problems] == ["penalty_amount_yuan", "legal_basis"]
    with pytest.raises(ValidationFailed) as exc:
        next_state(
            CaseState.investigating,
            CaseAction.decide,
            ActionInput(penalty_amount_yuan=-1, legal_basis="x"),
        )
    assert [p.field for p in exc.value.problems] == ["penalty_amount_yuan"]
    # zero is a valid amount (a decision without a fine)
    zero = ActionInput(penalty_amount_yuan=0, legal_basis="x")
    assert next_state(CaseState.investigating, CaseAction.decide, zero) == CaseState.decided


def test_withdrawal_needs_a_reason():
    with pytest.raises(ValidationFailed) as exc:
        next_state(CaseState.open, CaseAction.withdraw, ActionInput(reason=" "))
    assert exc.value.problems[0].field == "reason"
    assert "理由" in exc.value.problems[0].zh
