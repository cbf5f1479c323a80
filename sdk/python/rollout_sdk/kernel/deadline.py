"""A deadline that interrupts the Python code a thread is running, wherever it is.

A template render checks its deadline at every call, block and output chunk it controls, but a
library function it calls may loop in Python for a long time on its own (`textwrap` behind
Jinja's `wordwrap`, `pprint`). One watchdog thread per process keeps the deadlines of the renders
under way and, when one passes, raises `DeadlinePassed` in the rendering thread with CPython's
`PyThreadState_SetAsyncExc`: the interpreter raises it at the next bytecode that thread runs, so a
Python loop stops within one C call of the deadline. (A single C call is not interrupted; the
render budget bounds the size of what every call receives, and so its time.)

The exception is only ever delivered while the deadline is armed: `armed` withdraws a pending
one on the way out, and one raised on the way out is still the deadline's, which the caller
catches around the whole block as it catches one raised inside.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class DeadlinePassed(BaseException):
    """Raised in a thread whose armed deadline has passed (a BaseException: see render_budget)."""


@dataclass(order=True)
class _Ticket:
    deadline: float
    order: int
    thread_id: int = field(compare=False)
    # Whoever takes `claim` first decides: the rendering thread (done in time: never fire) or the
    # watchdog (fire). A non-blocking acquire is one atomic C call, so no lock is ever left held
    # by an exception arriving half-way, which a `with lock:` in the rendering thread could not
    # promise while an exception may be pending for it.
    claim: threading.Lock = field(default_factory=threading.Lock, compare=False)
    fired: bool = field(default=False, compare=False)


class _Watchdog:
    """The deadlines of the threads under way, soonest first, and the thread that enforces them."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._tickets: list[_Ticket] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def arm(self, deadline: float) -> _Ticket:
        # Nothing can be pending for this thread here: the last disarm withdrew or consumed it.
        ticket = _Ticket(deadline, next(self._order), threading.get_ident())
        with self._condition:
            self._ensure_thread()
            heapq.heappush(self._tickets, ticket)
            if self._tickets[0] is ticket:
                self._condition.notify()
        return ticket

    def disarm(self, ticket: _Ticket) -> None:
        if ticket.claim.acquire(blocking=False):
            return  # in time: the watchdog will skip it
        # The watchdog claimed it: wait until it has raised, then withdraw the exception if this
        # thread has not met it yet (if it has, it propagates from here, to the same handler).
        while not ticket.fired:
            time.sleep(0)
        _set_async_exception(ticket.thread_id, None)

    def _ensure_thread(self) -> None:
        # After a fork (gunicorn workers) the parent's watchdog thread does not exist in the child.
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="render-deadline-watchdog", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        with self._condition:
            while True:
                while self._tickets and self._tickets[0].claim.locked():
                    heapq.heappop(self._tickets)  # disarmed in time
                if not self._tickets:
                    self._condition.wait()
                    continue
                wait = self._tickets[0].deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                ticket = heapq.heappop(self._tickets)
                if ticket.claim.acquire(blocking=False):
                    _set_async_exception(ticket.thread_id, DeadlinePassed)
                    ticket.fired = True


def _set_async_exception(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None
    )


_WATCHDOG = _Watchdog()


@contextmanager
def armed(deadline: float) -> Iterator[None]:
    """Raise DeadlinePassed in this thread if the block is still running at `deadline`
    (`time.monotonic()`)."""
    ticket = _WATCHDOG.arm(deadline)
    try:
        yield
    finally:
        _WATCHDOG.disarm(ticket)
