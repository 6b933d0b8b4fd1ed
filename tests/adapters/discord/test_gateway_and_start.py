"""Discord start-up and the gateway against the loopback DiscordServer: connected only after READY,
DISCORD_GATEWAY_URL for the first connection and every resume, one clear line for a bad token, a
refused gateway or a REST base that answers non-JSON, and no session or connector left open."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.discord.adapter import DiscordAdapter, DiscordStartError, create, settings_from_env
from bot.config import parse_config
from bot.errors import ConfigError
from serve.app import App, build_app
from tests.adapters.discord.harness import (
    BOB,
    CONFIG,
    HR,
    DiscordHarness,
    button_click,
    discord_harness,
    message_create,
    no_wait,
)
from tests.adapters.discord.servers import HTML_ERROR, DiscordServer
from tests.support.fakes import FakeRuntime


@asynccontextmanager
async def bare(tmp_path: Path, **env: str) -> AsyncIterator[tuple[App, DiscordAdapter, DiscordServer]]:
    """An app and a gateway-connected adapter, built but not started (the test starts it)."""
    fake = DiscordServer()
    await fake.start()
    app = build_app(parse_config(CONFIG, "test"), runtime=FakeRuntime(), db_path=str(tmp_path / "so8t.db"))
    variables = {
        "DISCORD_TOKEN": "test-token",
        "DISCORD_API_URL": fake.api_url,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        **env,
    }
    adapter = create(parse_config(CONFIG, "test"), app.bot, variables, gateway=True, sleep=no_wait)
    await app.bot.start(reminders=False)
    try:
        yield app, adapter, fake
    finally:
        await adapter.stop()
        await app.stop()
        await fake.stop()


def _session(adapter: DiscordAdapter) -> aiohttp.ClientSession | None:
    session: Any = getattr(adapter.client.http, "_HTTPClient__session", None)
    return session if isinstance(session, aiohttp.ClientSession) else None


def _all_closed(adapter: DiscordAdapter) -> bool:
    session = _session(adapter)
    return session is None or (session.closed and (session.connector is None or session.connector.closed))


async def test_connected_only_once_the_gateways_ready_arrived(tmp_path: Path) -> None:
    async with bare(tmp_path) as (app, adapter, fake):
        fake.ready_gate.clear()
        starting = asyncio.create_task(adapter.start())
        identify = await fake.wait_for(lambda: fake.called("identify"))
        assert identify[0]["token"] == "test-token" and identify[0]["intents"] & (1 << 15)  # message content
        assert fake.called("me") and not starting.done()  # logged in over REST, still waiting for READY
        assert not adapter.connected and app.bot.health()["adapters"]["discord"] is False
        fake.ready_gate.set()
        await asyncio.wait_for(starting, 10)
        assert adapter.connected and app.bot.health()["adapters"]["discord"] is True
        # the whole way in: a mention sent down the gateway is answered in a thread
        d = message_create("hello over the gateway")
        await fake.dispatch("MESSAGE_CREATE", d)
        await fake.wait_for(lambda: any(m["channel_id"] == d["id"] for m in fake.messages.values()))
        await app.bot.wait_idle()
        await adapter.drain()
        answers = [m["content"] for m in fake.messages.values() if m["channel_id"] == d["id"]]
        assert answers == ["Answer: hello over the gateway"]


async def test_the_gateway_url_serves_the_first_connection_and_every_resume(tmp_path: Path) -> None:
    async with bare(tmp_path) as (_app, adapter, fake):
        await adapter.start()
        connects = fake.called("gateway_connect")
        assert len(connects) == 1 and connects[0]["query"]["v"] == "10"
        await fake.reconnect()  # READY named another resume_gateway_url: the configured one is used
        resumed = await fake.wait_for(lambda: fake.called("resume"))
        assert resumed[0]["session_id"] == "fake-session" and len(fake.called("gateway_connect")) == 2
        assert adapter.connected


async def test_a_gateway_lost_for_good_after_ready_is_one_error_line_and_not_connected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with bare(tmp_path) as (app, adapter, fake):
        await adapter.start()
        assert app.bot.health()["adapters"]["discord"] is True
        caplog.set_level(logging.ERROR, "so8t.discord")
        await fake.close_gateway(4004)  # Discord closes with "Authentication failed": no reconnect
        assert adapter._gateway_task is not None
        await asyncio.wait_for(adapter._gateway_task, 10)
        lines = [r for r in caplog.records if r.name == "so8t.discord"]
        assert len(lines) == 1 and "code 4004" in lines[0].getMessage() and lines[0].exc_info is None
        assert not adapter.connected and app.bot.health()["adapters"]["discord"] is False


def test_gateway_url_must_be_a_websocket_url() -> None:
    assert settings_from_env({"DISCORD_TOKEN": "t"}).gateway_url is None
    url = "wss://gateway-proxy.internal:8443/"
    assert settings_from_env({"DISCORD_TOKEN": "t", "DISCORD_GATEWAY_URL": url}).gateway_url == url
    with pytest.raises(ConfigError, match="DISCORD_GATEWAY_URL must start with ws:// or wss://"):
        settings_from_env({"DISCORD_TOKEN": "t", "DISCORD_GATEWAY_URL": "https://discord.com"})


async def test_a_bad_token_is_one_line_and_closes_every_session(tmp_path: Path) -> None:
    async with bare(tmp_path) as (_app, adapter, fake):
        fake.reply_raw("me", '{"message": "401: Unauthorized", "code": 0}', 401, "application/json")
        with pytest.raises(DiscordStartError, match="Discord rejected DISCORD_TOKEN"):
            await adapter.start()
        assert _session(adapter) is not None and _all_closed(adapter)
        assert not adapter.connected and fake.called("gateway_connect") == []


async def test_a_gateway_that_refuses_the_token_fails_the_start_in_one_line(tmp_path: Path) -> None:
    async with bare(tmp_path) as (_app, adapter, fake):
        fake.close_on_identify = 4004
        with pytest.raises(DiscordStartError, match=r"closed the connection \(code 4004"):
            await adapter.start()
        assert _all_closed(adapter)


async def test_no_ready_in_time_fails_the_start_in_one_line(tmp_path: Path) -> None:
    async with bare(tmp_path) as (_app, adapter, fake):
        fake.ready_gate.clear()
        adapter.settings = dataclasses.replace(adapter.settings, ready_timeout_s=0.5)
        with pytest.raises(DiscordStartError, match=r"no READY from the Discord gateway at ws://127\.0\.0\.1"):
            await adapter.start()
        assert _all_closed(adapter)
        fake.ready_gate.set()


@pytest.mark.parametrize(
    ("body", "content_type", "needle"),
    [
        (HTML_ERROR, "text/html", "text ('<!DOCTYPE html>"),
        ("upstream connect error", "text/plain", "text ('upstream connect error')"),
        ('{"id": "9', "application/json", "broken JSON"),
    ],
)
async def test_a_rest_base_that_answers_non_json_fails_the_start_in_one_line(
    tmp_path: Path, body: str, content_type: str, needle: str
) -> None:
    async with bare(tmp_path) as (_app, adapter, fake):
        fake.reply_raw("me", body, 200, content_type)
        with pytest.raises(DiscordStartError) as err:
            await adapter.start()
        line = str(err.value)
        assert "\n" not in line and needle in line and "GET /users/@me" in line and "DISCORD_API_URL" in line
        assert _all_closed(adapter)


def _cards(h: DiscordHarness) -> list[dict[str, Any]]:
    """Every case card the bot posted (in any reviewer channel)."""
    return [m for m in h.fake.messages.values() if m["author"]["id"] == h.fake.BOT_ID and m["components"]]


async def test_a_non_json_reply_at_run_time_is_one_line_and_nothing_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with discord_harness(tmp_path) as h:
        caplog.set_level(logging.WARNING, "so8t.discord")
        # an answer whose post gets a proxy's page: one line, and a person follows up (as for any failed post)
        h.fake.reply_raw("create_message", HTML_ERROR, 200, "text/html")
        d = await h.say("hello through a broken proxy")
        await h.idle()
        lines = [r.getMessage() for r in caplog.records if r.name == "so8t.discord"]
        assert len(lines) == 1 and "POST /channels/{channel_id}/messages" in lines[0] and "not JSON" in lines[0]
        assert "passed it to a person" in h.texts(d["id"])[0] and len(_cards(h)) == 1
        assert h.app.store.event_state("discord", d["id"]) == "done"
        # a card whose post gets one: the request stays in the store and is finished on the next start
        h.fake.reply_raw("create_message", "upstream connect error", 200, "text/plain")
        e = await h.say("My manager cut my salary without notice")
        await h.idle()
        assert h.app.store.event_state("discord", e["id"]) == "received" and len(_cards(h)) == 1
        again = await h.say("and now?")  # the process keeps serving
        await h.idle()
        assert h.texts(again["id"]) == ["Answer: and now?"]
        assert await h.app.bot.recover() == 1  # what the next start does
        await h.idle()
        assert len(_cards(h)) == 2 and "hr reviewers" in h.texts(e["id"])[0]
        assert h.app.store.event_state("discord", e["id"]) == "done"


async def test_a_non_json_reply_to_a_click_is_one_line_not_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with discord_harness(tmp_path) as h:
        await h.say("My manager cut my salary without notice")
        await h.idle()
        card = h.bot_messages(HR)[0]
        esc = card["components"][0]["components"][0]["custom_id"].split(":")[2]
        caplog.set_level(logging.WARNING)
        h.fake.raw_replies["interaction_callback"] = [(200, "text/html", HTML_ERROR)]
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:answer:{esc}", BOB, card))
        await h.fake.wait_for(lambda: h.fake.called("interaction_callback", status=None))
        await h.idle()
        assert all(r.exc_info is None for r in caplog.records), [r.getMessage() for r in caplog.records]
        assert any("not JSON" in r.getMessage() for r in caplog.records)
