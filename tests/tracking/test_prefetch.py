"""Prefetch: an iterator run ahead on a worker thread gives the same items, errors and cleanup."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.tracking.prefetch import Prefetch


@settings(max_examples=50, deadline=None)
@given(items=st.lists(st.integers()), depth=st.integers(1, 3))
def test_items_come_in_order(items: list[int], depth: int) -> None:
    with Prefetch(items, depth=depth) as ahead:
        assert list(ahead) == items
        assert list(ahead) == []  # exhausted stays exhausted


def test_an_error_reaches_the_consumer_after_the_items_before_it() -> None:
    error = ValueError("line 3: bad")

    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise error

    got = []
    with Prefetch(items()) as ahead, pytest.raises(ValueError) as raised:
        for item in ahead:
            got.append(item)
    assert got == [1, 2]
    assert raised.value is error  # the reader's own exception, with its file and line


def test_leaving_early_stops_the_worker_and_closes_the_iterator() -> None:
    made: list[int] = []
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            for n in range(1_000):
                made.append(n)
                yield n
        finally:
            closed.set()

    with Prefetch(items(), depth=2, name="test-prefetch") as ahead:
        assert next(ahead) == 0
    assert closed.is_set()
    assert not any(t.name == "test-prefetch" for t in threading.enumerate())
    assert len(made) <= 1 + 2 + 1  # taken, queued, and the one being made when stopped


def test_the_worker_stays_a_bounded_number_of_items_ahead() -> None:
    made: list[int] = []
    taken = 0
    checked = threading.Event()

    def items() -> Iterator[int]:
        for n in range(20):
            made.append(n)
            yield n

    with Prefetch(items(), depth=1) as ahead:
        for _ in ahead:
            taken += 1
            if taken == 5:
                # give the worker time to run ahead as far as it can
                checked.wait(0.3)
                assert len(made) <= taken + 2  # one queued, one made and waiting for room
    assert taken == 20
