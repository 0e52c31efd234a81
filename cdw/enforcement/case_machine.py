"""The life of a case as a pure state machine (no I/O):

``open → investigating → decided → closed``; ``open`` or ``investigating`` → ``withdrawn``.
Deciding needs a penalty amount (yuan, ≥ 0) and the legal basis; withdrawing needs a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cdw.enforcement.models import CaseState
from cdw.errors import Conflict, Problem, ValidationFailed


class CaseAction(StrEnum):
    investigate = "investigate"
    decide = "decide"
    close = "close"
    withdraw = "withdraw"

    @property
    def zh(self) -> str:
        return ACTION_LABELS_ZH[self]


ACTION_LABELS_ZH = {
    CaseAction.investigate: "开始调查",
    CaseAction.decide: "作出处罚决定",
    CaseAction.close: "结案",
    CaseAction.withdraw: "撤销案件",
}

TRANSITIONS: dict[tuple[CaseState, CaseAction], CaseState] = {
    (CaseState.open, CaseAction.investigate): CaseState.investigating,
    (CaseState.investigating, CaseAction.decide): CaseState.decided,
    (CaseState.decided, CaseAction.close): CaseState.closed,
    (CaseState.open, CaseAction.withdraw): CaseState.withdrawn,
    (CaseState.investigating, CaseAction.withdraw): CaseState.withdrawn,
}


@dataclass(frozen=True)
class ActionInput:
    """What an action may carry; which fields are required depends on the action."""

    penalty_amount_yuan: float | None = None
    legal_basis: str = ""
    decision_text: str = ""
    reason: str = ""


def _problems(action: CaseAction, given: ActionInput) -> list[Problem]:
    problems: list[Problem] = []
    if action is CaseAction.decide:
        amount = given.penalty_amount_yuan
        if amount is None or not amount >= 0:
            problems.append(
                Problem(
                    "penalty_amount_yuan",
                    "处罚决定须填写罚款金额（元，不小于 0）",
                    "a decision needs the penalty amount (yuan, at least 0)",
                )
            )
        if not given.legal_basis.strip():
            problems.append(
                Problem("legal_basis", "处罚决定须填写法律依据", "a decision needs its legal basis")
            )
    if action is CaseAction.withdraw and not given.reason.strip():
        problems.append(Problem("reason", "撤销案件须填写理由", "withdrawing needs a reason"))
    return problems


def next_state(state: CaseState, action: CaseAction, given: ActionInput) -> CaseState:
    """The state after ``action``; Conflict if ``state`` does not allow it, ValidationFailed
    if a required field is missing."""
    target = TRANSITIONS.get((state, action))
    if target is None:
        raise Conflict(
            f"案件处于「{state.zh}」状态，不能{action.zh}",
            f"a case in state '{state}' cannot {action}",
        )
    problems = _problems(action, given)
    if problems:
        raise ValidationFailed(problems)
    return target
