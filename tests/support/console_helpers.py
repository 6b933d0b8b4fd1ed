"""A running console app on 127.0.0.1:0 with a real SQLite file, and a tiny JSON client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import parse_config
from runtime.base import Runtime
from serve.app import App, build_app
from tests.support.fakes import FakeRuntime

# no rate limit or busy notices, and no knowledge folders (tests of grounded answers configure their own)
QUIET = {"policy": {"rate_limit": {"per_minute": 0}, "queue": {"busy_notice_after": 0}}, "knowledge": {"folders": []}}


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def post(self, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = (
            {"data": raw, "headers": {"Content-Type": "application/json"}}
            if raw is not None
            else {"json": body}
        )
        async with self.session.post(self.base + path, **kwargs) as resp:
            return resp.status, await resp.json()

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        async with self.session.get(self.base + path, params=params) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def say(
        self, user: str, text: str, channel: str = "general", thread: str | None = None, **extra: str
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"channel": channel, "user": user, "text": text, **extra}
        if thread:
            body["thread"] = thread
        status, data = await self.post("/api/messages", body)
        assert status == 200, data
        return dict(data)

    async def messages(self, channel: str = "general", thread: str | None = None) -> list[dict[str, Any]]:
        params = {"channel": channel, **({"thread": thread} if thread else {})}
        status, data = await self.get("/api/messages", **params)
        assert status == 200, data
        return list(data)

    async def bot_replies(self, thread: str, channel: str = "general") -> list[dict[str, Any]]:
        return [m for m in await self.messages(channel, thread) if m["user"] == "so8t"]


@asynccontextmanager
async def console_app(
    tmp_path: Path,
    config: dict[str, Any] | None = None,
    runtime: Runtime | None = None,
    clock: Callable[[], float] | None = None,
    db_name: str = "so8t.db",
) -> AsyncIterator[tuple[App, Client]]:
    cfg = parse_config(config if config is not None else QUIET, "test")
    kwargs: dict[str, Any] = {"clock": clock} if clock else {}
    app = build_app(cfg, runtime or FakeRuntime(), db_path=str(tmp_path / db_name), **kwargs)
    port = await app.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            yield app, Client(session, f"http://127.0.0.1:{port}")
    finally:
        await app.stop()
