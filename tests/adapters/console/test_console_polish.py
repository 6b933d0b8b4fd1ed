"""Issue 20 (newcomer polish), server side: the channels API's time zone and open-case badges, deadlines in
the configured time zone, Japanese cards without English action words."""

from __future__ import annotations

from pathlib import Path

from bot.escalations import format_deadline
from bot.events import Escalation
from bot.replies import Replies
from tests.support.console_helpers import QUIET, console_app


def test_format_deadline_uses_the_time_zone() -> None:
    ts = 1_777_777_200.0  # 2026-05-03 03:00 UTC
    assert format_deadline(ts) == "2026-05-03 03:00 UTC"
    assert format_deadline(ts, "Asia/Tokyo") == "2026-05-03 12:00 JST"
    assert format_deadline(ts, "Not/AZone") == "2026-05-03 03:00 UTC"


async def test_channels_api_gives_time_zone_and_open_cases(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        status, data = await c.get("/api/channels")
        assert status == 200
        assert data["timezone"] == "Asia/Tokyo"  # schedule.timezone's default
        assert set(data["open_cases"]) == set(data["channels"]) and sum(data["open_cases"].values()) == 0
        await c.say("alice", "My salary is wrong")
        await c.say("bob", "Is my parental leave approved?")
        await c.say("carol", "A lawsuit against us")
        await app.bot.wait_idle()
        _, data = await c.get("/api/channels")
        assert data["open_cases"]["hr-review"] == 2 and data["open_cases"]["legal-review"] == 1
        assert data["open_cases"]["general"] == 0
        await c.say("reviewer", "/so8t resolve 1 approve", channel="hr-review")
        await app.bot.wait_idle()
        _, data = await c.get("/api/channels")
        assert data["open_cases"]["hr-review"] == 1


async def test_deadline_on_card_and_notice_in_configured_time_zone(tmp_path: Path) -> None:
    cfg = {**QUIET, "schedule": {"timezone": "Asia/Tokyo"}}
    async with console_app(tmp_path, cfg) as (app, c):
        posted = await c.say("alice", "My salary is wrong")
        await app.bot.wait_idle()
        notice = (await c.bot_replies(posted["thread"]))[0]["text"]
        card = (await c.messages("hr-review"))[0]["text"]
        assert "JST" in notice and "UTC" not in notice
        assert "Deadline:" in card and "JST" in card and "UTC" not in card


async def test_japanese_card_and_confirmation_have_no_english_action_word(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        await c.say("alice", "給与の計算が間違っています")
        await app.bot.wait_idle()
        cmd = await c.say("reviewer", "/so8t resolve 1 approve", channel="hr-review")
        await app.bot.wait_idle()
        card = (await c.messages("hr-review"))[0]["text"]
        assert "reviewer さんが承認しました" in card and "approved" not in card
        ok = (await c.bot_replies(cmd["thread"], "hr-review"))[0]["text"]
        assert "承認" in ok


def test_card_resolved_templates_localise_every_action() -> None:
    r = Replies()
    esc = Escalation.__new__(Escalation)
    object.__setattr__(esc, "id", 3)
    object.__setattr__(esc, "domain", "hr")
    object.__setattr__(esc, "text_masked", "x")
    words = {"approve": ("承認", "approved"), "decline": ("却下", "declined"), "answer": ("回答", "answered")}
    for action, (ja, en) in words.items():
        assert ja in r.render("card_resolved", "ja", esc=esc, action=action, reviewer="r")
        assert en in r.render("card_resolved", "en", esc=esc, action=action, reviewer="r")
        assert ja in r.render("resolved_ok", "ja", esc_id=3, action=action)
