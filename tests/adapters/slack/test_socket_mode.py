"""Slack in Socket Mode (issue 20), in process: the real adapter and slack_sdk's Socket Mode client against
loopback stand-ins for Slack's servers (tests/adapters/slack/socket_fake.py), the core on a real SQLite
file with the FakeRuntime.

- a refused app token fails start with one line naming SLACK_APP_TOKEN; transient errors are retried
- every envelope (and every HTTP delivery) is acked before any Web API call made for it, so a notice
  whose chat.postMessage is rate-limited (429, Retry-After: 5) never holds the ack past Slack's 3 s
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.adapter import SlackStartError
from tests.adapters.slack.harness import CONFIG, SlackHarness, slack_harness
from tests.adapters.slack.socket_fake import FakeSlackSocket

SOCKET_ENV = {"SLACK_APP_TOKEN": "xapp-1-test"}
RATE_LIMITED = {"ok": False, "error": "ratelimited"}
REFUSALS = [
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "not_allowed_token_type",
    "invalid_token",
]


@asynccontextmanager
async def socket_harness(
    tmp_path: Path, config: dict[str, Any] | None = None, **kw: Any
) -> AsyncIterator[tuple[SlackHarness, FakeSlackSocket]]:
    fake = FakeSlackSocket()
    async with slack_harness(tmp_path, config, fake=fake, env=SOCKET_ENV, **kw) as h:
        yield h, fake


async def test_socket_mode_connects_and_answers_a_mention(tmp_path: Path) -> None:
    async with socket_harness(tmp_path) as (h, fake):
        assert h.slack.socket_mode and h.slack.routes() == []  # no events URL in Socket Mode
        await fake.wait_for(lambda: fake.open_sockets)
        assert h.slack.connected and h.app.bot.health()["adapters"]["slack"] is True
        ts = "1700000000.010100"
        eid = await fake.push(h.envelope(h.mention_event("what is on the lunch menu?", ts)))
        await fake.wait_for(lambda: eid in fake.acked)
        await h.idle()
        assert [m.text for m in fake.bot_messages("CGEN", ts)] == ["Answer: what is on the lunch menu?"]
        assert len(fake.called("apps.connections.open")) == 1


async def test_health_is_down_while_the_socket_is_gone(tmp_path: Path) -> None:
    async with socket_harness(tmp_path) as (h, fake):
        fake.fail_next("apps.connections.open", 503, {}, {"ok": False, "error": "service_unavailable"}, times=1000)
        await fake.wait_for(lambda: fake.open_sockets)
        await fake.drop()
        await fake.wait_for(lambda: len(fake.called("apps.connections.open", status=503)) >= 2)
        assert not h.slack.connected and h.app.bot.health()["ok"] is False


# ---------------------------------------------------------------- issue 20.1: a refused app token
@pytest.mark.parametrize("error", REFUSALS)
async def test_a_refused_app_token_fails_start_with_one_line(
    tmp_path: Path, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with socket_harness(tmp_path, start=False) as (h, fake):
        fake.fail_next("apps.connections.open", 200, {}, {"ok": False, "error": error}, times=100)
        with pytest.raises(SlackStartError) as info:
            await asyncio.wait_for(h.slack.start(), 10)
        line = str(info.value)
        assert line.startswith(f"SLACK_APP_TOKEN was refused by Slack ({error}): ")
        assert "connections:write" in line and "\n" not in line
        assert len(fake.called("apps.connections.open", status=200)) == 1  # asked once, not every 10 s
        assert h.sleeps == [] and fake.sockets == []
        assert not h.slack.connected
        assert not [r for r in caplog.records if r.exc_info], "no traceback"
        assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_transient_errors_are_retried_with_back_off(tmp_path: Path) -> None:
    async with socket_harness(tmp_path, start=False) as (h, fake):
        fake.fail_next("apps.connections.open", 500, {}, {"ok": False, "error": "internal_error"})
        fake.fail_next("apps.connections.open", 429, {"Retry-After": "7"}, RATE_LIMITED)
        fake.fail_next("apps.connections.open", 200, {}, {"ok": False, "error": "service_unavailable"})
        fake.fail_next("apps.connections.open", 502, {}, "<html>bad gateway</html>")
        await asyncio.wait_for(h.slack.start(), 10)
        assert len(fake.called("apps.connections.open", status=None)) == 5
        assert h.sleeps == [1.0, 7.0, 4.0, 8.0]  # back-off doubles; Retry-After is honoured
        await fake.wait_for(lambda: fake.open_sockets)
        assert h.slack.connected


async def test_network_errors_are_retried_with_back_off(tmp_path: Path) -> None:
    async with socket_harness(tmp_path, start=False) as (h, fake):
        fake.disconnects = 4  # slack_sdk retries a dropped connection once itself: two of our tries
        await asyncio.wait_for(h.slack.start(), 10)
        assert len(fake.called("apps.connections.open", status=0)) == 4
        assert h.sleeps == [1.0, 2.0]
        await fake.wait_for(lambda: fake.open_sockets)
        assert h.slack.connected


async def test_a_token_revoked_while_running_is_retried_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    waits: list[float] = []
    second, release = asyncio.Event(), asyncio.Event()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) >= 2:
            second.set()
            await release.wait()

    async with socket_harness(tmp_path, sleep=sleep) as (h, fake):
        await fake.wait_for(lambda: fake.open_sockets)
        fake.fail_next("apps.connections.open", 200, {}, {"ok": False, "error": "token_revoked"}, times=2)
        await fake.drop()  # slack_sdk reconnects at once: apps.connections.open again
        await asyncio.wait_for(second.wait(), 10)
        assert len(fake.called("apps.connections.open")) == 3
        assert waits[:2] == [10.0, 20.0]  # less and less often
        refused = [r.getMessage() for r in caplog.records if r.name == "so8t.slack" and "refused" in r.getMessage()]
        assert len(refused) == 2 and refused[0].startswith("SLACK_APP_TOKEN was refused by Slack (token_revoked)")
        release.set()
        await fake.wait_for(lambda: len(fake.open_sockets) == 1 and len(fake.sockets) == 2)
        assert not [r for r in caplog.records if r.exc_info], "no traceback"


# ---------------------------------------------------------------- issue 20.3: ack first, post after
def _config(policy: dict[str, Any]) -> dict[str, Any]:
    base = CONFIG["policy"]
    return {
        **CONFIG,
        "policy": {
            "rate_limit": {**base["rate_limit"], **policy.get("rate_limit", {})},
            "queue": {**base["queue"], **policy.get("queue", {})},
        },
    }


# each notice: the policy that makes it, how many requests go first, and the text of the last one
NOTICES = {
    "empty": ({}, 0, ""),
    "rate_limited": ({"rate_limit": {"per_minute": 1, "burst": 1}}, 1, "one more thing"),
    "queue_full": ({"queue": {"max_total": 1}}, 2, "and another"),
    "busy": ({"queue": {"busy_notice_after": 1}}, 2, "still there?"),
}


class _HeldBackOff:
    """The adapter's sleep: a Retry-After of 5 s (and only that) waits until the test releases it, so a
    late ack shows as a missing ack, not as a slow test."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if seconds >= 5:
            await self.released.wait()


async def _notice_under_a_429(
    h: SlackHarness, notice: str, deliver: Callable[[dict[str, Any]], Awaitable[None]], back_off: _HeldBackOff
) -> None:
    """The requests that set up `notice` (the model held, so nothing else posts), then chat.postMessage
    answers 429 with Retry-After: 5 and the request that gets the notice is delivered."""
    _policy, before, text = NOTICES[notice]
    gate = threading.Event()
    h.runtime.gate = gate
    try:
        for i in range(before):
            await deliver(h.mention_event(f"question {i}", ts=f"1700000001.{i:06d}"))
            if i == 0:
                assert await asyncio.to_thread(h.runtime.entered.wait, 10)  # the worker holds the first
        h.fake.fail_next("chat.postMessage", 429, {"Retry-After": "5"}, RATE_LIMITED)
        await deliver(h.mention_event(text, ts="1700000002.000100"))
    finally:
        back_off.released.set()
        gate.set()


def _check_notice(h: SlackHarness, notice: str, back_off: _HeldBackOff) -> None:
    assert back_off.waits.count(5.0) == 1  # the notice did wait out Retry-After, after the ack
    notices = [m.text for m in h.fake.bot_messages("CGEN", "1700000002.000100")]
    assert len(notices) == (2 if notice == "busy" else 1), notices  # a busy request is answered later
    words = {"empty": "was empty", "rate_limited": "faster than", "queue_full": "too many", "busy": "busy"}
    assert words[notice] in notices[0].lower()


@pytest.mark.parametrize("notice", list(NOTICES))
async def test_socket_envelope_is_acked_before_a_rate_limited_notice_is_posted(tmp_path: Path, notice: str) -> None:
    back_off = _HeldBackOff()
    config = _config(NOTICES[notice][0])
    async with socket_harness(tmp_path, config, sleep=back_off) as (h, fake):
        await fake.wait_for(lambda: fake.open_sockets)
        last: dict[str, str] = {}

        async def deliver(event: dict[str, Any]) -> None:
            eid = await fake.push(h.envelope(event))
            last["eid"] = eid
            if event["ts"] != "1700000002.000100":
                await fake.wait_for(lambda: eid in fake.acked)
                return
            # the ack comes while chat.postMessage is still waiting out its 429 (held: never released here)
            await fake.wait_for(lambda: eid in fake.acked, timeout=3.0)
            assert fake.acked[eid] - fake.pushed[eid] < 2.0  # well under Slack's 3 s
            await fake.wait_for(lambda: fake.called("chat.postMessage", status=429))
            ack_at = fake.index("ack", lambda a: a.get("envelope_id") == eid)
            assert 0 <= ack_at < fake.index("chat.postMessage")  # acked before the first post was tried

        await _notice_under_a_429(h, notice, deliver, back_off)
        await h.idle()
        _check_notice(h, notice, back_off)
        assert set(fake.acked) == set(fake.pushed)  # every envelope acked


@pytest.mark.parametrize("notice", ["empty", "queue_full"])
async def test_http_delivery_is_answered_before_a_rate_limited_notice_is_posted(tmp_path: Path, notice: str) -> None:
    back_off = _HeldBackOff()
    async with slack_harness(tmp_path, _config(NOTICES[notice][0]), sleep=back_off) as h:

        async def deliver(event: dict[str, Any]) -> None:
            started = time.monotonic()
            status, _ = await asyncio.wait_for(h.event(event), 3.0)
            assert status == 200 and time.monotonic() - started < 2.0
            if event["ts"] == "1700000002.000100":
                await h.fake.wait_for(lambda: h.fake.called("chat.postMessage", status=429))

        await _notice_under_a_429(h, notice, deliver, back_off)
        await h.idle()
        _check_notice(h, notice, back_off)


async def test_a_slow_listener_is_acked_within_the_deadline_anyway(tmp_path: Path) -> None:
    """A delivery whose listener has not finished after ACK_WITHIN_S (a slow store) is acked anyway."""
    async with socket_harness(tmp_path) as (h, fake):
        await fake.wait_for(lambda: fake.open_sockets)
        hold = asyncio.Event()
        receive = h.app.bot.receive

        async def slow_receive(msg: Any) -> Any:
            await hold.wait()
            return await receive(msg)

        h.app.bot.receive = slow_receive  # type: ignore[method-assign]
        ts = "1700000003.000100"
        eid = await fake.push(h.envelope(h.mention_event("slow store", ts)))
        await fake.wait_for(lambda: eid in fake.acked, timeout=3.0)
        assert fake.acked[eid] - fake.pushed[eid] < 3.0
        hold.set()
        await h.idle()
        assert [m.text for m in fake.bot_messages("CGEN", ts)] == ["Answer: slow store"]
