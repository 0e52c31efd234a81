"""The manifest lifecycle (DESIGN.md §4) as one pure state machine.

Main line: ``ISSUED`` (gate check passed) → ``DEPARTED`` → ``ARRIVED`` → ``RECEIVED`` |
``PARTIALLY_REJECTED`` | ``REJECTED`` → ``CLOSED``.

Side states, and where they can be reached from:

- ``OVERDUE`` (no receipt within the allowed transit time): from ``ISSUED``, ``DEPARTED``
  and ``ARRIVED``. A late receipt still counts: ``OVERDUE`` → ``ARRIVED`` and the three
  receipt outcomes.
- ``DISCREPANCY`` (reconciliation found receipt and manifest or trip disagreeing): from the
  three receipt outcomes. An officer resolves it: ``DISCREPANCY`` → ``CLOSED`` or ``VOID``.
- ``VOID`` (cancelled, the load never moved or the record was wrong): from ``ISSUED``,
  ``DEPARTED``, ``OVERDUE`` and ``DISCREPANCY``; never once a facility has confirmed a
  load unless reconciliation disputed it. Who may void is the service's rule: a site
  dispatcher only from ``ISSUED``, officers from any of them, with a reason
  (``cdw.manifests.services.void``; the flags on it are closed by ``cdw.flows.manifests``).

A receipt correction may change the outcome: the three receipt outcomes lead to each other.
``CLOSED`` and ``VOID`` are final.
"""

from __future__ import annotations

from cdw.errors import Conflict, Problem
from cdw.registry.categories import LabelledEnum


class ManifestState(LabelledEnum):
    issued = "issued", "已开单", "issued"
    departed = "departed", "已出场", "departed"
    arrived = "arrived", "已到场", "arrived"
    received = "received", "已收货", "received"
    partially_rejected = "partially_rejected", "部分拒收", "partially rejected"
    rejected = "rejected", "已拒收", "rejected"
    closed = "closed", "已闭合", "closed"
    overdue = "overdue", "超时未收", "overdue"
    discrepancy = "discrepancy", "存在差异", "discrepancy"
    void = "void", "已作废", "void"


class ReceiptOutcome(LabelledEnum):
    """A facility's answer to a load (here, not in ``models``: the engine's workers read it
    without the database tables)."""

    accepted = "accepted", "收货", "accepted"
    partially_rejected = "partially_rejected", "部分拒收", "partially rejected"
    rejected = "rejected", "拒收", "rejected"


S = ManifestState
RECEIPT_OUTCOMES = frozenset({S.received, S.partially_rejected, S.rejected})
# States in which a facility may confirm or reject the load.
AWAITING_RECEIPT = frozenset({S.departed, S.arrived, S.overdue})
# States of a manifest still on its way (counted as expected arrivals, checked for OVERDUE).
IN_TRANSIT = frozenset({S.issued, S.departed, S.arrived})
FINAL = frozenset({S.closed, S.void})

TRANSITIONS: dict[ManifestState, frozenset[ManifestState]] = {
    S.issued: frozenset({S.departed, S.overdue, S.void}),
    S.departed: frozenset({S.arrived, S.overdue, S.void}),
    S.arrived: frozenset(RECEIPT_OUTCOMES | {S.overdue}),
    S.received: frozenset({S.closed, S.discrepancy, S.partially_rejected, S.rejected}),
    S.partially_rejected: frozenset({S.closed, S.discrepancy, S.received, S.rejected}),
    S.rejected: frozenset({S.closed, S.discrepancy, S.received, S.partially_rejected}),
    S.overdue: frozenset(RECEIPT_OUTCOMES | {S.arrived, S.void}),
    S.discrepancy: frozenset({S.closed, S.void}),
    S.closed: frozenset(),
    S.void: frozenset(),
}


def can_transition(current: ManifestState, target: ManifestState) -> bool:
    return target in TRANSITIONS[ManifestState(current)]


def transition(current: ManifestState, target: ManifestState) -> ManifestState:
    """``target`` if the lifecycle allows it from ``current``; otherwise Conflict (409)
    naming the current state and the states it may move to."""
    current, target = ManifestState(current), ManifestState(target)
    if can_transition(current, target):
        return target
    allowed = sorted(TRANSITIONS[current], key=list(ManifestState).index)
    allowed_zh = "、".join(s.zh for s in allowed) or "无（终态）"
    allowed_en = ", ".join(s.en for s in allowed) or "none (final state)"
    raise Conflict(
        f"联单当前状态为「{current.zh}」，不能变为「{target.zh}」；可变为：{allowed_zh}",
        f"the manifest is {current.en} and cannot become {target.en}; allowed: {allowed_en}",
        problems=[
            Problem(
                "state",
                f"当前状态：{current.zh}（{current.value}）",
                f"current state: {current.en} ({current.value})",
            )
        ],
        current_state=current.value,
    )
