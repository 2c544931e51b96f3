"""newsbot's own thread pool for CPU-bound work: embedding, search, sentence scoring, reading.

`asyncio.to_thread` shares the event loop's default executor (min(32, CPUs + 4) threads) with
the loop's own blocking helpers, notably `getaddrinfo` for every new connection. Twenty
questions at once queue enough embedding work there that a request to the chat model waits
seconds to resolve its host and times out before it is sent. CPU work goes to this pool instead,
sized to the CPUs (more threads would not compute faster), and the default executor stays free
for I/O.

The pool serves the oldest question first. An answer is several jobs in a row (search, then
scoring and reading, then the disagreement check), each queued when the one before it ends. A
first-in-first-out queue puts the second job of the first question behind the first job of every
question asked since, so when 50 questions arrive at once all 50 are answered together at the
end (bench/bot_load.py: every first reply came after 40-42 s). Here each job carries the time its
question arrived (`question_priority`, entered by the conversation engine for each question),
and a free thread takes the job of the oldest question: questions are answered one after the
other as the cores allow, and the first asker waits for one answer, not for fifty. Work outside a
question (briefings, watches) is served in the order it was queued, among the questions.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

# When the question the running code answers arrived (time.monotonic()); None outside a question.
_QUESTION_ARRIVED: contextvars.ContextVar[float | None] = contextvars.ContextVar("question_arrived", default=None)


@contextmanager
def question_priority() -> Iterator[float]:
    """Mark the CPU jobs run inside the block as one question's, arrived now: the pool runs them
    before the jobs of questions that arrived later. Nested blocks keep the outer arrival time
    (a follow-up search inside an answer is still that question). Yields the arrival time."""
    arrived = _QUESTION_ARRIVED.get()
    if arrived is not None:
        yield arrived
        return
    arrived = time.monotonic()
    token = _QUESTION_ARRIVED.set(arrived)
    try:
        yield arrived
    finally:
        try:
            _QUESTION_ARRIVED.reset(token)
        except ValueError:  # an async generator closed from another context: nothing to undo there
            pass


class PriorityPool:
    """A fixed set of daemon threads taking jobs by priority (lowest first), ties in the order
    they were submitted. `submit` returns a `concurrent.futures.Future`."""

    def __init__(self, workers: int, name: str = "newsbot-cpu") -> None:
        if workers < 1:
            raise ValueError(f"a pool needs at least one worker, not {workers}")
        self._jobs: queue.PriorityQueue[tuple[float, int, Callable[[], Any] | None, Future[Any] | None]] = (
            queue.PriorityQueue()
        )
        self._order = itertools.count()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[], R], priority: float) -> Future[R]:
        """Queue `fn` to run when no job of a lower `priority` waits; return its future."""
        future: Future[R] = Future()
        self._jobs.put((priority, next(self._order), fn, future))
        return future

    def shutdown(self) -> None:
        """Let the threads end once the jobs already queued are done (for tests)."""
        for _ in self._threads:
            self._jobs.put((float("inf"), next(self._order), None, None))
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            _, _, fn, future = self._jobs.get()
            if fn is None or future is None:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except BaseException as e:  # noqa: BLE001 - handed to the awaiting caller
                future.set_exception(e)
            else:
                future.set_result(result)


_POOL = PriorityPool(max(2, os.cpu_count() or 2))


async def run_cpu(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run `fn(*args, **kwargs)` in newsbot's CPU pool (with the caller's context variables, as
    `asyncio.to_thread` does) and return its result. Jobs of an older question run first."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    arrived = _QUESTION_ARRIVED.get()
    return await asyncio.wrap_future(_POOL.submit(call, time.monotonic() if arrived is None else arrived))
