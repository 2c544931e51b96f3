"""Event-loop benchmark: how long the loop stalls while the conversation engine answers.

    python bench/event_loop.py --asks 6 --json bench/results/event-loop.json

A bot whose event loop stalls misses Discord heartbeats and goes offline, so nothing the engine
does may hold the loop. A heartbeat task sleeps `--tick` seconds at a time and records the gap
between its wake-ups: the gap beyond the tick is how long something else held the loop.

Both runs are in this process, interleaved (the order alternates per round, so a busy machine
slows both alike):
- asks: the heartbeat runs while `ConversationEngine.ask` answers one question over real BBC
  passages (../shared/data/bbc) with the extractive answerer and the local embedding model,
  through a retriever that blocks its worker thread `--search-delay` seconds (like Chroma).
- baseline: the heartbeat alone, as long as the latest ask took. What the machine's
  scheduling alone costs.

Reported per run: the max, p99 and median gap and the max stall (max gap - tick), and the ratios
asks / baseline. The test suite used to assert a max gap under 0.5 s with a 1 s search
(`stall_budget_s`); `within_budget` says whether this run met it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.output import write_json  # noqa: E402
from retrieval.conversation import ConversationEngine  # noqa: E402
from retrieval.embeddings import LocalEmbeddings  # noqa: E402
from retrieval.extractive import ExtractiveAnswerer  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from tests.support.answer_support import CARLSBERG_Q, FakeRetriever, bbc_passages  # noqa: E402

# The passages and the day of the conversation tests (tests/test_conversation.py).
ARTICLES = ("politics/365", "business/173", "business/063", "tech/145", "sport/167")
TODAY = date(2005, 3, 16)
QUESTIONS = (
    CARLSBERG_Q,
    "How many civil service jobs does Gordon Brown plan to cut?",
    "How much did US retail sales fall in January?",
    "What did the Pew survey find about musicians and file-sharing?",
    "What chance does Arjen Robben give himself of playing against Barcelona?",
)
STALL_BUDGET_S = 0.5


class Heartbeat:
    """Sleeps `tick` seconds at a time on the event loop and records the gap between wake-ups."""

    def __init__(self, tick: float) -> None:
        self.tick = tick
        self.gaps: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self.tick)
            now = time.perf_counter()
            self.gaps.append(now - last)
            last = now

    def __enter__(self) -> Heartbeat:
        self._task = asyncio.get_running_loop().create_task(self._beat())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def summary(gaps: list[float], tick: float) -> dict[str, float | int]:
    ordered = sorted(gaps)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "beats": len(gaps),
        "max_gap_ms": round(1000 * ordered[-1], 1),
        "p99_gap_ms": round(1000 * p99, 1),
        "median_gap_ms": round(1000 * statistics.median(ordered), 1),
        "max_stall_ms": round(1000 * max(ordered[-1] - tick, 0.0), 1),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    embeddings = LocalEmbeddings("all-MiniLM-L6-v2")
    passages = [p for sid in ARTICLES for p in bbc_passages(sid)]
    with tempfile.TemporaryDirectory(prefix="newsbot-bench-loop-") as tmp:
        settings = Settings(store_dir=Path(tmp) / "store", _env_file=None)  # type: ignore[call-arg]
        retriever = FakeRetriever(passages, delay=args.search_delay)
        engine = ConversationEngine(
            settings, retriever, ExtractiveAnswerer(settings, embeddings), embeddings, today=lambda: TODAY
        )
        await engine.ask("warm-up", QUESTIONS[0])  # loads the model: not what a running bot pays

        ask_gaps: list[float] = []
        baseline_gaps: list[float] = []
        ask_seconds: list[float] = []

        async def one_ask(n: int) -> float:
            with Heartbeat(args.tick) as beat:
                started = time.perf_counter()
                await engine.ask(f"bench-{n}", QUESTIONS[n % len(QUESTIONS)])
                took = time.perf_counter() - started
            ask_gaps.extend(beat.gaps)
            ask_seconds.append(took)
            return took

        async def baseline(seconds: float) -> None:
            with Heartbeat(args.tick) as beat:
                await asyncio.sleep(seconds)
            baseline_gaps.extend(beat.gaps)

        for n in range(args.asks):
            if n % 2 == 0:
                await baseline(await one_ask(n))
            else:
                await baseline(ask_seconds[-1])
                await one_ask(n)
            print(f"ask {n + 1}/{args.asks}: {ask_seconds[-1]:.2f} s", file=sys.stderr)

    asks, base = summary(ask_gaps, args.tick), summary(baseline_gaps, args.tick)
    return {
        "asks": args.asks,
        "tick_ms": round(1000 * args.tick, 1),
        "search_delay_s": args.search_delay,
        "ask_seconds_median": round(statistics.median(ask_seconds), 3),
        "during_asks": asks,
        "baseline": base,
        "max_gap_ratio": round(asks["max_gap_ms"] / base["max_gap_ms"], 2),
        "p99_gap_ratio": round(asks["p99_gap_ms"] / base["p99_gap_ms"], 2),
        "stall_budget_ms": 1000 * STALL_BUDGET_S,
        "within_budget": asks["max_gap_ms"] < 1000 * STALL_BUDGET_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asks", type=int, default=6, help="questions to answer (alternating with the baseline)")
    parser.add_argument("--tick", type=float, default=0.02, help="heartbeat sleep in seconds")
    parser.add_argument("--search-delay", type=float, default=1.0, help="seconds each search blocks its thread")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.asks < 1:
        parser.error(f"--asks must be at least 1, not {args.asks}")
    result = asyncio.run(measure(args))
    print(write_json(result, args.json))


if __name__ == "__main__":
    main()
