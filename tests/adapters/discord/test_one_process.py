"""Slack and Discord in one process: one Bot, one store, one model (loaded once), both answered."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import runtime.loader
from adapters.discord.adapter import DiscordAdapter
from adapters.platforms import create_platforms, enabled
from adapters.slack.adapter import SlackAdapter
from bot.config import parse_config
from bot.errors import ConfigError
from serve.app import build_app
from tests.adapters.discord.harness import CONFIG as DISCORD_CONFIG
from tests.adapters.discord.harness import message_create
from tests.adapters.slack.harness import CONFIG as SLACK_CONFIG
from tests.adapters.slack.harness import SECRET, signed_headers
from tests.support.fakes import FakeRuntime
from tests.support.fakes_platforms import FakeDiscord, FakeSlack


def _config() -> dict[str, Any]:
    roles = {"admins": SLACK_CONFIG["roles"]["admins"] + DISCORD_CONFIG["roles"]["admins"]}
    channels = {**SLACK_CONFIG["escalation"]["channels"], **DISCORD_CONFIG["escalation"]["channels"]}
    return {
        **SLACK_CONFIG,
        "roles": roles,
        "escalation": {"channels": channels},
        "slack": {"update_interval": 0},
        "discord": {"update_interval": 0},
    }


async def test_one_model_answers_slack_and_discord_at_the_same_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[FakeRuntime] = []

    def load_runtime(settings: Any) -> FakeRuntime:
        built.append(FakeRuntime())
        return built[-1]

    monkeypatch.setattr(runtime.loader, "load_runtime", load_runtime)
    slack_fake, discord_fake = FakeSlack(), FakeDiscord()
    await slack_fake.start()
    await discord_fake.start()
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_fake.api_url,
        "DISCORD_TOKEN": "test-token",
        "DISCORD_API_URL": discord_fake.api_url,
    }
    cfg = parse_config(_config(), "test")
    app = build_app(cfg, db_path=str(tmp_path / "so8t.db"))
    platforms = create_platforms(cfg, app.bot, env)
    slack, discord = platforms
    assert isinstance(slack, SlackAdapter) and isinstance(discord, DiscordAdapter)
    discord.gateway = False  # payloads are fed below instead of a gateway connection
    assert set(app.bot.adapters) == {"console", "slack", "discord"}
    web_app = web.Application()
    for p in platforms:
        web_app.add_routes(p.routes())
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    await app.bot.start(reminders=False)
    for p in platforms:
        await p.start()
    try:
        event = {
            "type": "app_mention",
            "user": "UALICE",
            "text": "<@UBOT> hello from slack",
            "ts": "1700000000.000100",
            "channel": "CGEN",
        }
        body = json.dumps(
            {
                "type": "event_callback",
                "event_id": "Ev1",
                "team_id": "T1",
                "api_app_id": "A1",
                "event_time": int(time.time()),
                "event": event,
            }
        ).encode()
        d = message_create("hello from discord")

        async def post_slack() -> int:
            async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=signed_headers(body)) as r:
                return r.status

        async def feed_discord() -> None:
            discord.feed("MESSAGE_CREATE", d)

        status, _ = await asyncio.gather(post_slack(), feed_discord())
        assert status == 200
        await discord.drain()
        await app.bot.wait_idle()
        await slack.drain()
        await discord.drain()
        assert [m.text for m in slack_fake.bot_messages("CGEN")] == ["Answer: hello from slack"]
        answers = [
            m["content"]
            for m in discord_fake.messages.values()
            if m["channel_id"] == d["id"] and m["author"]["id"] == FakeDiscord.BOT_ID
        ]
        assert answers == ["Answer: hello from discord"]
        assert len(built) == 1  # one model for both platforms
        assert built[0] is app.runtime and built[0].violations == []
        assert sorted(r["platform"] for r in app.store.export()) == ["discord", "slack"]
    finally:
        for p in reversed(platforms):
            await p.stop()
        await runner.cleanup()
        await app.stop()
        await slack_fake.stop()
        await discord_fake.stop()


def test_platforms_follow_the_tokens_and_bad_settings_are_one_line(tmp_path: Path) -> None:
    assert enabled({}) == ()
    assert enabled({"SLACK_BOT_TOKEN": "xoxb-1"}) == ("slack",)
    assert enabled({"SLACK_BOT_TOKEN": "x", "DISCORD_TOKEN": "y"}) == ("slack", "discord")
    cfg = parse_config(_config(), "test")
    app = build_app(cfg, runtime=FakeRuntime(), db_path=str(tmp_path / "so8t.db"))
    try:
        assert create_platforms(cfg, app.bot, {}) == []
        assert set(app.bot.adapters) == {"console"}
        with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET is required"):
            create_platforms(cfg, app.bot, {"SLACK_BOT_TOKEN": "xoxb-1"})
        with pytest.raises(ConfigError, match="xapp-"):
            create_platforms(cfg, app.bot, {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "nope"})
        with pytest.raises(ConfigError, match="DISCORD_GUILD_ID"):
            create_platforms(cfg, app.bot, {"DISCORD_TOKEN": "t", "DISCORD_GUILD_ID": "abc"})
        socket = create_platforms(cfg, app.bot, {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
        assert socket[0].routes() == []  # Socket Mode: nothing served over HTTP
        assert "xoxb-1" not in repr(socket[0].settings) and "xapp-1" not in repr(socket[0].settings)  # type: ignore[attr-defined]
    finally:
        asyncio.run(app.stop())
