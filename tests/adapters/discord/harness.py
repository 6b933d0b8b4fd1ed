"""A Discord adapter logged in against the loopback DiscordServer's REST API, without the gateway: gateway
dispatches are fed as payload dicts through discord.py's own parsers, as the gateway would (the gateway
itself: test_gateway_and_start.py)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.discord.adapter import DiscordAdapter, create
from bot.config import parse_config
from serve.app import App, build_app
from tests.adapters.discord.servers import DiscordServer
from tests.support.fakes import FakeRuntime
from tests.support.fakes_platforms import FakeDiscord

GUILD = "100000000000000001"
GENERAL = "100000000000000010"
HR = "100000000000000020"
ALICE = "200000000000000001"
REVIEWER = "200000000000000002"
ADMIN = "200000000000000003"
BOB = "200000000000000004"
COMPLIANCE = "100000000000000030"
HR_ROLE = "300000000000000001"
CONFIG: dict[str, Any] = {
    "policy": {"rate_limit": {"per_minute": 0}, "queue": {"busy_notice_after": 0}},
    "knowledge": {"folders": []},
    "escalation": {"channels": {"discord": {"hr": HR, "compliance": COMPLIANCE}}},
    "roles": {"admins": [f"discord:{ADMIN}"], "reviewers": {"hr": [f"discord:{REVIEWER}"]}},
}
_ids = itertools.count(500000000000000000)


def next_id() -> str:
    return str(next(_ids))


def user(uid: str) -> dict[str, Any]:
    return {"id": uid, "username": f"user{uid[-2:]}", "discriminator": "0", "avatar": None, "global_name": None}


def message_create(
    content: str,
    author: str = ALICE,
    channel: str = GENERAL,
    guild: str | None = GUILD,
    mention_bot: bool = True,
    mid: str | None = None,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": mid or next_id(),
        "channel_id": channel,
        "author": user(author),
        "content": (f"<@{FakeDiscord.BOT_ID}> " if mention_bot else "") + content,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [{**user(FakeDiscord.BOT_ID), "bot": True}] if mention_bot else [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    if guild:
        d["guild_id"] = guild
    return d


def _interaction(
    kind: int,
    who: str,
    data: dict[str, Any],
    channel: str,
    roles: list[str] | None = None,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": next_id(),
        "application_id": FakeDiscord.APP_ID,
        "type": kind,
        "token": f"tok{next_id()}",
        "version": 1,
        "channel_id": channel,
        "guild_id": GUILD,
        "data": data,
        "locale": "en-US",
        "guild_locale": "en-US",
        "app_permissions": "0",
        "entitlements": [],
        "authorizing_integration_owners": {},
        "attachment_size_limit": 10485760,
        "member": {
            "user": user(who),
            "roles": roles or [],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "permissions": "0",
            "flags": 0,
            "nick": None,
            "avatar": None,
        },
        "channel": {
            "id": channel,
            "type": 0,
            "guild_id": GUILD,
            "name": "c",
            "position": 0,
            "nsfw": False,
            "permission_overwrites": [],
            "parent_id": None,
        },
    }
    if message is not None:
        d["message"] = message
    return d


def button_click(custom_id: str, who: str, message: dict[str, Any], roles: list[str] | None = None) -> dict[str, Any]:
    return _interaction(3, who, {"custom_id": custom_id, "component_type": 2}, message["channel_id"], roles, message)


def modal_submit(custom_id: str, who: str, text: str, message: dict[str, Any]) -> dict[str, Any]:
    data = {
        "custom_id": custom_id,
        "components": [{"type": 1, "components": [{"type": 4, "custom_id": "so8t-text", "value": text}]}],
    }
    return _interaction(5, who, data, message["channel_id"], None, message)


def command(sub: str, who: str, options: list[dict[str, Any]] | None = None, channel: str = GENERAL) -> dict[str, Any]:
    data = {"id": "1", "name": "so8t", "type": 1, "options": [{"name": sub, "type": 1, "options": options or []}]}
    return _interaction(2, who, data, channel)


async def no_wait(seconds: float) -> None:
    """The throttle's sleep, injected: tests never wait for real."""


@dataclass
class DiscordHarness:
    app: App
    discord: DiscordAdapter
    fake: DiscordServer

    @property
    def runtime(self) -> FakeRuntime:
        rt = self.app.runtime
        assert isinstance(rt, FakeRuntime)
        return rt

    def restart_adapter(self) -> None:
        """A fresh client (as after a process restart) on the same store: views are re-registered."""
        self.discord = create(parse_config(CONFIG, "test"), self.app.bot, self.env(), gateway=False, sleep=no_wait)

    def env(self) -> dict[str, str]:
        return {
            "DISCORD_TOKEN": "test-token",
            "DISCORD_API_URL": self.fake.api_url,
            "DISCORD_GATEWAY_URL": self.fake.gateway_url,
        }

    async def say(self, content: str, **kw: Any) -> dict[str, Any]:
        d = message_create(content, **kw)
        self.discord.feed("MESSAGE_CREATE", d)
        return d

    async def idle(self) -> None:
        await self.discord.drain()
        await self.app.bot.wait_idle()
        await self.discord.drain()

    def texts(self, channel: str) -> list[str]:
        """Current contents of the bot's messages in a channel (after edits), oldest first."""
        rows = [
            m
            for m in self.fake.messages.values()
            if m["channel_id"] == channel and m["author"]["id"] == FakeDiscord.BOT_ID
        ]
        return [m["content"] for m in sorted(rows, key=lambda m: int(m["id"]))]

    def bot_messages(self, channel: str) -> list[dict[str, Any]]:
        rows = [
            m
            for m in self.fake.messages.values()
            if m["channel_id"] == channel and m["author"]["id"] == FakeDiscord.BOT_ID
        ]
        return sorted(rows, key=lambda m: int(m["id"]))

    def sent(self, channel: str) -> list[dict[str, Any]]:
        return [a for a in self.fake.called("create_message") if a["channel"] == channel]


@asynccontextmanager
async def discord_harness(tmp_path: Path, config: dict[str, Any] | None = None) -> AsyncIterator[DiscordHarness]:
    fake = DiscordServer()
    await fake.start()
    cfg = parse_config(config or CONFIG, "test")
    app = build_app(cfg, runtime=FakeRuntime(), db_path=str(tmp_path / "so8t.db"))
    h = DiscordHarness(app, None, fake)  # type: ignore[arg-type]
    h.discord = create(cfg, app.bot, h.env(), gateway=False, sleep=no_wait)
    await app.bot.start(reminders=False)
    await h.discord.start()
    try:
        yield h
    finally:
        await h.discord.stop()
        await app.stop()
        await fake.stop()
