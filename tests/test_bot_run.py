"""The bot's entry points (`bot.__main__.run`, `bot.sync.sync_global`) configured by settings
alone, as in production: endpoints from the settings, one clear line for a bad configuration,
and the token never in a log line."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import pytest
import pytest_asyncio
from langchain_core.embeddings import DeterministicFakeEmbedding

from bot.__main__ import BAD_TOKEN, Backoff, run
from bot.endpoints import apply_endpoints
from bot.sync import sync_global
from retrieval.settings import Settings
from tests.support.bot_fixtures import SHARED_BBC, build_stack
from tests.support.chroma_server import free_port
from tests.support.fake_discord import FakeDiscord
from tests.support.waiting import until

TOKEN = "MTA5NzQ.tok3n-that-must-never-be-logged.Zx81Qv"
REAL_BASE = "https://discord.com/api/v10"
T = 30.0


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fake Discord that only accepts TOKEN, with discord.py NOT pointed at it: the code under
    test must do that from the settings."""
    fake = FakeDiscord(token=TOKEN)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    assert fake.unhandled == []
    assert discord.http.Route.BASE == REAL_BASE  # restored


def settings_for(fake: FakeDiscord, store: Path, **values: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        store_dir=store,
        discord_api_base=fake.api_base,
        discord_gateway_url=fake.gateway_url,
        **values,
    )


def error_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_missing_token_is_one_clear_line(tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: Any) -> None:
    settings = Settings(_env_file=None, store_dir=tmp_path / "store", discord_token="  ")  # type: ignore[call-arg]
    assert await run(settings) == 2
    [line] = error_lines(caplog)
    assert line.getMessage() == "DISCORD_TOKEN is not set: put the bot's token in .env (see the README)"
    assert line.exc_info is None
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "store").exists()  # nothing was opened


async def test_a_rejected_token_is_one_clear_line(
    fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    settings = settings_for(fake, tmp_path / "store", discord_token="not-the-token")
    code = await run(settings, embeddings=DeterministicFakeEmbedding(size=32))
    assert code == 2
    [line] = error_lines(caplog)
    assert line.getMessage() == BAD_TOKEN and line.exc_info is None
    assert "Traceback" not in capsys.readouterr().err
    assert [(r.method, r.path, r.status) for r in fake.requests] == [("GET", "/users/@me", 401)]
    assert fake.identifies == []


async def test_the_bot_runs_from_settings_alone_and_never_logs_its_token(
    fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    embeddings = DeterministicFakeEmbedding(size=32)
    corpus = tmp_path / "corpus"
    for source_id in ("business/173", "politics/365"):
        (corpus / source_id).parent.mkdir(parents=True, exist_ok=True)
        (corpus / f"{source_id}.txt").write_bytes((SHARED_BBC / f"{source_id}.txt").read_bytes())
    build_stack(tmp_path, embeddings, corpus=corpus).close()
    # shard_count unset: the bot asks Discord how many shards to run (GET /gateway/bot).
    settings = settings_for(fake, tmp_path / "store", discord_token=TOKEN, dev_guild_id=fake.guild_id)

    caplog.set_level(logging.DEBUG)  # everything, discord.py's HTTP and gateway logs included
    task = asyncio.create_task(run(settings, embeddings=embeddings))

    def logged_in_or_stopped() -> bool:  # on_ready logs once READY and GUILD_CREATE are in
        return task.done() or any(r.getMessage().startswith("logged in as") for r in caplog.records)

    try:
        await until(logged_in_or_stopped, timeout=T, what="the bot to log in")
        assert not task.done(), task.result()
        assert fake.identifies and fake.commands(fake.guild_id)
        dm = await fake.dm_message("How many jobs is Carlsberg cutting?")
        answer = await fake.wait_for_bot_message(int(dm["channel_id"]), timeout=T)
        ix = await fake.interaction("stats")
        stats = await ix.wait_for_reply(timeout=T)
    finally:
        task.cancel()  # what Ctrl-C does to the bot
        with pytest.raises(asyncio.CancelledError):
            await task

    assert answer["content"] and stats["content"].startswith("**2** articles")
    assert fake.requests_to("GET", r"/gateway/bot")
    assert all(r.headers.get("Authorization") == f"Bot {TOKEN}" for r in fake.requests if r.path == "/users/@me")
    assert discord.http.Route.BASE == REAL_BASE  # restored when the bot stopped

    records = caplog.records
    assert len(records) > 20
    for record in records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        assert TOKEN not in text, f"the token leaked in {record.name}: {record.getMessage()[:200]}"
    out = capsys.readouterr()
    assert TOKEN not in out.out and TOKEN not in out.err


async def test_sync_registers_the_commands_globally(
    fake: FakeDiscord, tmp_path: Path, capsys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(fake, tmp_path / "store", discord_token=TOKEN)
    assert await sync_global(settings) == 0
    names = {c["name"] for c in fake.commands()}
    assert names == {"ask", "sources", "forget", "search", "article", "stats", "help", "reindex", "remove",
        "brief", "watch", "watches", "unwatch"}
    assert fake.commands(fake.guild_id) == []
    assert "synced 13 global commands" in capsys.readouterr().out
    assert not (tmp_path / "store").exists()  # a sync opens no store

    bad = settings_for(fake, tmp_path / "store", discord_token="wrong")
    assert await sync_global(bad) == 2
    assert error_lines(caplog)[-1].getMessage() == "Discord rejected the token in DISCORD_TOKEN"


def test_apply_endpoints_points_discord_py_at_the_settings_and_restores_it() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, discord_api_base="http://127.0.0.1:9/api/v10/", discord_gateway_url="ws://127.0.0.1:9/gw"
    )
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    restore = apply_endpoints(settings)
    try:
        assert discord.http.Route.BASE == "http://127.0.0.1:9/api/v10"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:9/gw"
    finally:
        restore()
    assert discord.http.Route.BASE == REAL_BASE
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY is gateway


async def test_the_bot_waits_for_an_unreachable_discord_then_connects(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    port = free_port()  # nothing listens here yet: Discord is "down"
    fake = FakeDiscord(token=TOKEN)
    down = FakeDiscord(token=TOKEN)
    down.url = f"http://127.0.0.1:{port}"  # only for its api_base / gateway_url
    settings = settings_for(down, tmp_path / "store", discord_token=TOKEN)
    caplog.set_level(logging.INFO)
    waits = [r for r in caplog.records if "cannot reach Discord" in r.getMessage()]
    task = asyncio.create_task(run(settings, embeddings=DeterministicFakeEmbedding(size=32),
                                   backoff=Backoff(first=0.1, cap=0.4)))
    try:
        for _ in range(int(T / 0.02)):
            waits = [r for r in caplog.records if "cannot reach Discord" in r.getMessage()]
            if len(waits) >= 3 or task.done():
                break
            await asyncio.sleep(0.02)
        assert not task.done(), task.result()  # it did not give up
        await fake.start(port)  # Discord is back
        for _ in range(int(T / 0.02)):
            if fake.identifies or task.done():
                break
            await asyncio.sleep(0.02)
        assert fake.identifies, "the bot connected once Discord answered"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await fake.stop()

    assert [r.levelno for r in waits] == [logging.WARNING] * len(waits) and all(r.exc_info is None for r in waits)
    lines = [r.getMessage() for r in waits]
    assert f"cannot reach Discord at http://127.0.0.1:{port}/api/v10" in lines[0]
    assert "next attempt in 0.1 s (attempt 1)" in lines[0]
    assert "next attempt in 0.2 s (attempt 2)" in lines[1]  # the wait grows
    assert "next attempt in 0.4 s (attempt 3)" in lines[2]
    assert "Traceback" not in capsys.readouterr().err
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]


def test_serve_says_in_one_line_what_it_waits_for(tmp_path: Path) -> None:
    """`newsbot serve` with Discord unreachable: a warning naming Discord and the next attempt,
    no traceback, still running."""
    base = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "DISCORD_TOKEN": "x", "DISCORD_API_BASE": base, "STORE_DIR": str(tmp_path / "store"),
           "COLUMNS": "300", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        lines: list[str] = []
        assert process.stdout is not None
        while time.monotonic() < deadline and len([x for x in lines if "cannot reach Discord" in x]) < 2:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert process.poll() is None, "".join(lines)  # still waiting, not crashed
    finally:
        process.terminate()
        process.wait(timeout=30)
    waits = [x for x in lines if "cannot reach Discord" in x]
    assert len(waits) == 2, "".join(lines)
    assert f"cannot reach Discord at {base}" in waits[0] and "next attempt in 1 s (attempt 1)" in waits[0]
    assert "next attempt in 2 s (attempt 2)" in waits[1]
    assert "Traceback" not in "".join(lines)
