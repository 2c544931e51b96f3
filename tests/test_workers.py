"""The CPU pool answers the oldest question first: a question's later jobs do not queue behind
the first jobs of every question asked after it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from retrieval import workers
from retrieval.workers import PriorityPool, question_priority, run_cpu


def test_a_free_thread_takes_the_job_of_the_oldest_question() -> None:
    pool = PriorityPool(1, name="test-pool")
    gate = threading.Event()
    ran: list[str] = []
    try:
        blocker = pool.submit(gate.wait, priority=0.0)
        later = [pool.submit(lambda i=i: ran.append(f"later-{i}"), priority=2.0) for i in range(3)]
        older = pool.submit(lambda: ran.append("older"), priority=1.0)
        gate.set()
        for future in (blocker, *later, older):
            future.result(timeout=5)
    finally:
        pool.shutdown()
    assert ran == ["older", "later-0", "later-1", "later-2"]


def test_errors_reach_the_caller_and_the_pool_goes_on() -> None:
    pool = PriorityPool(1, name="test-pool")
    try:
        failed = pool.submit(lambda: 1 / 0, priority=0.0)
        with pytest.raises(ZeroDivisionError):
            failed.result(timeout=5)
        assert pool.submit(lambda: "still here", priority=0.0).result(timeout=5) == "still here"
    finally:
        pool.shutdown()


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker, not 0"):
        PriorityPool(0)


def test_answers_of_questions_asked_together_come_in_the_order_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three questions of three jobs each, queued at once on one busy thread: the first question
    is answered before the third one's first job runs (first in, first out would run the three
    first jobs, then the three second ones..., and answer all three together at the end)."""
    pool = PriorityPool(1, name="test-pool")
    monkeypatch.setattr(workers, "_POOL", pool)
    ran: list[str] = []
    finished: list[str] = []

    def job(name: str) -> None:
        time.sleep(0.02)  # long enough for the loop to queue the question's next job meanwhile
        ran.append(name)

    async def ask(name: str) -> None:
        with question_priority():
            for step in range(3):
                await run_cpu(job, f"{name}{step}")
        finished.append(name)

    async def main() -> None:
        gate = threading.Event()
        busy = pool.submit(gate.wait, priority=0.0)  # the thread is busy when the questions come
        tasks = []
        for name in "abc":
            tasks.append(asyncio.create_task(ask(name)))
            await asyncio.sleep(0.01)  # asked in this order, a moment apart
        gate.set()
        await asyncio.wrap_future(busy)
        await asyncio.gather(*tasks)

    try:
        asyncio.run(main())
    finally:
        pool.shutdown()
    assert finished == ["a", "b", "c"]
    assert ran.index("a2") < ran.index("c0"), ran


def test_a_nested_question_keeps_the_outer_arrival() -> None:
    with question_priority() as outer:
        with question_priority() as inner:
            assert inner == outer
    with question_priority() as later:
        assert later >= outer
