"""A running Slack adapter: the real bolt app served over real HTTP on 127.0.0.1:0, the core on a real
SQLite file with the FakeRuntime, and the loopback FakeSlack Web API. Requests are signed here."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from adapters.slack.adapter import SlackAdapter, Sleep, create
from bot.config import parse_config
from serve.app import App, build_app
from tests.support.fakes import FakeRuntime
from tests.support.fakes_platforms import FakeSlack

SECRET = "test-signing-secret"
CONFIG: dict[str, Any] = {
    "policy": {"rate_limit": {"per_minute": 0}, "queue": {"busy_notice_after": 0}},
    "knowledge": {"folders": []},
    "escalation": {"channels": {"slack": {"hr": "hr-review", "legal": "CLEGAL"}}},
    "roles": {"admins": ["slack:UADMIN"], "reviewers": {"hr": ["slack:UREV"]}},
}


def signed_headers(
    body: bytes, secret: str = SECRET, ts: int | None = None, content_type: str = "application/json"
) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    base = b"v0:" + stamp.encode() + b":" + body
    sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig, "Content-Type": content_type}


@dataclass
class SlackHarness:
    app: App
    slack: SlackAdapter
    fake: FakeSlack
    http: aiohttp.ClientSession
    url: str
    sleeps: list[float] = field(default_factory=list)
    _n: int = 0

    @property
    def runtime(self) -> FakeRuntime:
        rt = self.app.runtime
        assert isinstance(rt, FakeRuntime)
        return rt

    async def send(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        async with self.http.post(self.url, data=body, headers=headers) as resp:
            return resp.status, await resp.text()

    def envelope(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        """The Events API `event_callback` wrapping `event` (the HTTP body, or a Socket Mode payload)."""
        self._n += 1
        return {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id or f"Ev{self._n}",
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": "T1", "user_id": FakeSlack.BOT_USER, "is_bot": True}],
        }

    def mention_event(
        self, text: str, ts: str, user: str = "UALICE", channel: str = "CGEN", thread_ts: str | None = None
    ) -> dict[str, Any]:
        """An app_mention of the bot (also added to the fake's channel history)."""
        ev: dict[str, Any] = {
            "type": "app_mention",
            "user": user,
            "text": f"<@{FakeSlack.BOT_USER}> {text}".rstrip(),
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        }
        if thread_ts:
            ev["thread_ts"] = thread_ts
        self.fake.add_user_message(channel, ts, ev["text"], user, thread_ts or "")
        return ev

    async def event(
        self,
        event: dict[str, Any],
        retry: int | None = None,
        event_id: str | None = None,
        secret: str = SECRET,
        ts: int | None = None,
    ) -> tuple[int, str]:
        body = json.dumps(self.envelope(event, event_id)).encode()
        headers = signed_headers(body, secret, ts)
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return await self.send(body, headers)

    async def mention(
        self, text: str, ts: str, user: str = "UALICE", channel: str = "CGEN", thread_ts: str | None = None, **kw: Any
    ) -> tuple[int, str]:
        return await self.event(self.mention_event(text, ts, user, channel, thread_ts), **kw)

    async def form(self, fields: dict[str, str], secret: str = SECRET) -> tuple[int, str]:
        body = urllib.parse.urlencode(fields).encode()
        return await self.send(body, signed_headers(body, secret, content_type="application/x-www-form-urlencoded"))

    async def interact(self, payload: dict[str, Any]) -> tuple[int, str]:
        return await self.form({"payload": json.dumps(payload)})

    async def slash(self, text: str, user: str, trigger: str, channel: str = "CGEN") -> tuple[int, str]:
        return await self.form(
            {
                "command": "/so8t",
                "text": text,
                "user_id": user,
                "channel_id": channel,
                "team_id": "T1",
                "trigger_id": trigger,
                "response_url": self.fake.response_url(trigger),
                "api_app_id": "A1",
                "token": "legacy",
            }
        )

    async def idle(self) -> None:
        await self.slack.drain()  # deliveries still running after their ack reach the core
        await self.app.bot.wait_idle()
        await self.slack.drain()


@asynccontextmanager
async def slack_harness(
    tmp_path: Path,
    config: dict[str, Any] | None = None,
    fake: FakeSlack | None = None,
    env: dict[str, str] | None = None,
    sleep: Sleep | None = None,
    start: bool = True,
) -> AsyncIterator[SlackHarness]:
    """`env` adds to the SLACK_* variables (SLACK_APP_TOKEN: Socket Mode, with a FakeSlackSocket);
    `sleep` replaces the recording no-op sleep; start=False leaves `slack.start()` to the test."""
    fake = fake or FakeSlack()
    await fake.start()
    cfg = parse_config(config or CONFIG, "test")
    app = build_app(cfg, runtime=FakeRuntime(), db_path=str(tmp_path / "so8t.db"))
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    variables = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url}
    slack = create(cfg, app.bot, {**variables, **(env or {})}, sleep=sleep or fake_sleep)
    await app.bot.start(reminders=False)
    if start:
        await slack.start()
    web_app = web.Application()
    web_app.add_routes(slack.routes())
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    http = aiohttp.ClientSession()
    try:
        yield SlackHarness(app, slack, fake, http, f"http://127.0.0.1:{port}/slack/events", sleeps)
    finally:
        await http.close()
        await slack.stop()
        await runner.cleanup()
        await app.stop()
        await fake.stop()
