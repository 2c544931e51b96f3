"""newsbot's own thread pool for CPU-bound work: embedding, search, sentence scoring.

`asyncio.to_thread` shares the event loop's default executor (min(32, CPUs + 4) threads) with
the loop's own blocking helpers, notably `getaddrinfo` for every new connection. Twenty
questions at once queue enough embedding work there that a request to the chat model waits
seconds to resolve its host and times out before it is sent. CPU work goes to this pool instead,
sized to the CPUs (more threads would not compute faster), and the default executor stays free
for I/O.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="newsbot-cpu")


async def run_cpu(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run `fn(*args, **kwargs)` in newsbot's CPU pool (with the caller's context variables, as
    `asyncio.to_thread` does) and return its result."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_POOL, call)
