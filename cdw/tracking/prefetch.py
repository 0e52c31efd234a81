"""Run an iterator ahead of its consumer on a worker thread, a bounded number of items ahead.

Ingest's stages are mostly polars, pyarrow and numba work, which release the GIL: reading
and parsing the next chunk of a file (or cleaning the next group) on a second thread while
the current one is staged (or written to the store) keeps both cores busy. The items come
in the iterator's order, so the result is the serial one; memory grows by at most
``depth`` items (plus the one being made). An exception raised by the iterator reaches the
consumer as it is (a reader's error keeps its file and line), at the item where it
happened. Leaving the ``with`` block early (the consumer failed) stops the worker after
its current item and waits for it, so that nothing it reads is removed under it; items
made but never taken are handed to ``discard`` (to release what they hold).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = range(3)
_POLL_S = 0.1  # how often a worker waiting on a full queue checks whether it was stopped


class Prefetch(Generic[T]):
    """``with Prefetch(items) as ahead: for item in ahead: ...``"""

    def __init__(
        self,
        items: Iterable[T],
        depth: int = 1,
        name: str = "cdw-prefetch",
        discard: Callable[[T], object] | None = None,
    ):
        self._queue: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
        self._discard = discard
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(items,), name=name, daemon=True)

    def __enter__(self) -> Prefetch[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():  # free a worker blocked on a full queue
            with contextlib.suppress(queue.Empty):
                self._dropped(self._queue.get(timeout=_POLL_S))
        self._thread.join()
        while not self._queue.empty():
            self._dropped(self._queue.get_nowait())

    def _dropped(self, entry: tuple[int, Any]) -> None:
        kind, value = entry
        if kind == _ITEM and self._discard is not None:
            self._discard(value)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == _ITEM:
            return value
        self._done = True
        self._thread.join()
        if kind == _ERROR:
            raise value
        raise StopIteration

    def _run(self, items: Iterable[T]) -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not self._put((_ITEM, item)):
                    self._dropped((_ITEM, item))
                    return
            self._put((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((_ERROR, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:  # a generator left early: its files closed on this thread
                close()

    def _put(self, entry: tuple[int, Any]) -> bool:
        """Queue ``entry``; False when the consumer stopped before there was room."""
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False
