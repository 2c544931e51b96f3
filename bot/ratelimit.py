"""Per-user rate limit: at most N questions in a sliding minute."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable


class RateLimiter:
    """`allow(user_id)` is True while the user has asked fewer than `per_minute` questions in the
    last 60 seconds; `retry_after(user_id)` says how long to wait otherwise."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._asked: dict[int, deque[float]] = defaultdict(deque)

    def _window(self, user_id: int) -> deque[float]:
        window = self._asked[user_id]
        now = self.clock()
        while window and now - window[0] >= 60:
            window.popleft()
        return window

    def allow(self, user_id: int) -> bool:
        if self.per_minute <= 0:
            return True
        window = self._window(user_id)
        if len(window) >= self.per_minute:
            return False
        window.append(self.clock())
        return True

    def retry_after(self, user_id: int) -> int:
        window = self._window(user_id)
        return max(1, int(60 - (self.clock() - window[0])) + 1) if window else 0
