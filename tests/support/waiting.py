"""Waiting for a state instead of sleeping for a guess: poll a condition until a deadline.

A fixed sleep is too short on a loaded machine (a flaky test) and too long everywhere else (a
slow suite); polling returns as soon as the state is reached and fails with what was awaited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, poll: float = 0.05) -> None:
    """Return once `condition()` is true, checking every `poll` seconds.

    Raises AssertionError naming `what` when it is still false after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(poll)


async def until(condition: Callable[[], object], *, timeout: float, what: str, poll: float = 0.02) -> None:
    """`wait_until` for the event loop: other tasks run while it waits.

    Raises AssertionError naming `what` when `condition()` is still false after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(poll)
