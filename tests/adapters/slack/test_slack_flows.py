"""Slack flows over real HTTP: bolt app on 127.0.0.1:0, signed requests, loopback fake Web API."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.adapters.slack.harness import SlackHarness, slack_harness
from tests.support.fakes_platforms import FakeSlack


def _final_texts(h: SlackHarness, channel: str, thread_ts: str) -> list[str]:
    return [m.text for m in h.fake.bot_messages(channel, thread_ts)]


async def test_mention_is_answered_in_its_thread(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        status, _ = await h.mention("Summarize the meeting notes", ts="1700000000.000100")
        assert status == 200
        await h.idle()
        texts = _final_texts(h, "CGEN", "1700000000.000100")
        assert texts == ["Answer: Summarize the meeting notes"]
        posted = h.fake.called("chat.postMessage")
        assert posted[0]["thread_ts"] == "1700000000.000100" and posted[0]["channel"] == "CGEN"
        assert h.runtime.calls[0] == ("decide", "Summarize the meeting notes")  # the mention is stripped


async def test_retries_and_the_twin_message_event_answer_once(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        ts = "1700000000.000200"
        assert (await h.mention("hello there", ts=ts, event_id="EvA"))[0] == 200
        # Slack retries the same delivery (X-Slack-Retry-Num), and sends the `message` twin of the mention
        assert (await h.mention("hello there", ts=ts, event_id="EvA", retry=1))[0] == 200
        assert (await h.mention("hello there", ts=ts, event_id="EvA", retry=2))[0] == 200
        twin = {
            "type": "message",
            "channel_type": "channel",
            "user": "UALICE",
            "channel": "CGEN",
            "ts": ts,
            "text": f"<@{FakeSlack.BOT_USER}> hello there",
        }
        assert (await h.event(twin, event_id="EvB"))[0] == 200
        await h.idle()
        assert _final_texts(h, "CGEN", ts) == ["Answer: hello there"]
        assert [k for k, _ in h.runtime.calls].count("decide") == 1


async def test_forged_or_stale_signature_is_401_and_nothing_is_stored(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        ev = {
            "type": "app_mention",
            "user": "UALICE",
            "text": "<@UBOT> hi",
            "ts": "1700000000.000300",
            "channel": "CGEN",
        }
        status, _ = await h.event(ev, secret="not-the-secret")
        assert status == 401
        status, _ = await h.event(ev, ts=int(time.time()) - 600)  # signed right, but 10 minutes old
        assert status == 401
        status, _ = await h.send(b'{"type": "event_callback"}', {"Content-Type": "application/json"})
        assert status == 401
        await h.idle()
        assert h.app.store.event_counts() == {} or sum(h.app.store.event_counts().values()) == 0
        assert h.fake.called("chat.postMessage") == []


async def test_dm_is_answered_and_other_peoples_threads_are_not(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        dm = {
            "type": "message",
            "channel_type": "im",
            "user": "UALICE",
            "channel": "DALICE",
            "ts": "1700000000.000400",
            "text": "what is the wifi password policy?",
        }
        await h.event(dm)
        stranger = {
            "type": "message",
            "channel_type": "channel",
            "user": "UBOB",
            "channel": "CGEN",
            "ts": "1700000000.000501",
            "thread_ts": "1700000000.000500",
            "text": "lunch?",
        }
        await h.event(stranger)
        edited = {**dm, "subtype": "message_changed", "ts": "1700000000.000402"}
        await h.event(edited)
        own = {**dm, "user": FakeSlack.BOT_USER, "bot_id": FakeSlack.BOT_ID, "ts": "1700000000.000403"}
        await h.event(own)
        await h.idle()
        assert _final_texts(h, "DALICE", "1700000000.000400") == ["Answer: what is the wifi password policy?"]
        assert len(h.fake.called("chat.postMessage")) == 1


async def test_follow_up_in_the_bots_thread_needs_no_mention_and_gets_context(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        root = "1700000000.000600"
        await h.mention("How do I book a room?", ts=root)
        await h.idle()
        follow = {
            "type": "message",
            "channel_type": "channel",
            "user": "UALICE",
            "channel": "CGEN",
            "ts": "1700000000.000700",
            "thread_ts": root,
            "text": "And for ten people?",
        }
        h.fake.add_user_message("CGEN", follow["ts"], follow["text"], "UALICE", root)
        await h.event(follow)
        await h.idle()
        assert _final_texts(h, "CGEN", root) == ["Answer: How do I book a room?", "Answer: And for ten people?"]
        ctx = h.runtime.contexts[-1]
        assert [(t.role, t.text) for t in ctx] == [
            ("user", "How do I book a room?"),
            ("assistant", "Answer: How do I book a room?"),
        ]
        assert h.fake.called("conversations.replies")[-1]["ts"] == root


def _card_click(h: SlackHarness, action: str, user: str, card_ts: str, value: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "api_app_id": "A1",
        "team": {"id": "T1"},
        "trigger_id": f"trig-{action}-{user}",
        "channel": {"id": "CHR"},
        "container": {"type": "message", "message_ts": card_ts, "channel_id": "CHR"},
        "message": {"type": "message", "ts": card_ts, "text": "card"},
        "actions": [
            {
                "action_id": f"so8t_{action}",
                "block_id": "so8t_buttons",
                "value": value,
                "type": "button",
                "action_ts": f"1800000100.{len(h.fake.calls):06d}",
            }
        ],
    }


def _submission(view: dict[str, Any], user: str, text: str, view_id: str = "V1") -> dict[str, Any]:
    return {
        "type": "view_submission",
        "user": {"id": user},
        "team": {"id": "T1"},
        "api_app_id": "A1",
        "view": {
            **view,
            "id": view_id,
            "hash": "h1",
            "team_id": "T1",
            "state": {"values": {"so8t_text": {"text": {"type": "plain_text_input", "value": text}}}},
        },
    }


async def test_escalation_card_buttons_and_modal_resolve_into_the_asker_thread(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        ask = "1700000000.000800"
        await h.mention("My manager cut my salary without notice", ts=ask)
        await h.idle()
        notice = _final_texts(h, "CGEN", ask)
        assert len(notice) == 1 and "hr reviewers" in notice[0]
        cards = h.fake.bot_messages("CHR")
        assert len(cards) == 1 and cards[0].thread_ts == ""
        card = cards[0]
        actions = [b for b in card.blocks if b["type"] == "actions"][0]["elements"]
        assert [a["action_id"] for a in actions] == ["so8t_approve", "so8t_decline", "so8t_answer"]
        value = actions[0]["value"]
        assert "salary" in card.text and "UALICE" in card.text
        # someone without the hr reviewer role: told privately, nothing resolved
        status, _ = await h.interact(_card_click(h, "approve", "UBOB", card.ts, value))
        assert status == 200
        await h.idle()
        eph = h.fake.called("chat.postEphemeral")
        assert eph and eph[-1]["user"] == "UBOB" and "reviewer" in eph[-1]["text"]
        assert len(_final_texts(h, "CGEN", ask)) == 1
        # a non-reviewer clicking Answer gets no dialog, only a private line
        status, _ = await h.interact(_card_click(h, "answer", "UBOB", card.ts, value))
        assert status == 200
        await h.idle()
        assert h.fake.called("views.open") == []
        eph = h.fake.called("chat.postEphemeral")
        assert eph[-1]["user"] == "UBOB" and "reviewer" in eph[-1]["text"]
        # the reviewer clicks Answer: a modal opens; submitting it resolves the case
        status, _ = await h.interact(_card_click(h, "answer", "UREV", card.ts, value))
        assert status == 200
        await h.idle()  # the click is acked first; views.open follows
        opened = h.fake.called("views.open")
        assert len(opened) == 1 and opened[0]["trigger_id"] == "trig-answer-UREV"
        view = opened[0]["view"]
        # a non-reviewer who got hold of the modal is refused inline, in the modal
        status, body = await h.interact(_submission(view, "UBOB", "nope", view_id="V0"))
        assert status == 200 and json.loads(body)["response_action"] == "errors"
        status, body = await h.interact(_submission(view, "UREV", "HR will call you today."))
        assert status == 200 and "errors" not in body
        await h.idle()
        texts = _final_texts(h, "CGEN", ask)
        assert len(texts) == 2 and "HR will call you today." in texts[1] and "UREV" in texts[1]
        resolved = h.fake.bot_messages("CHR")[0]
        assert "resolved" in resolved.text and "UREV" in resolved.text
        assert resolved.blocks == []  # the buttons are gone
        assert h.app.store.get_escalation(int(value)).status == "resolved"  # type: ignore[union-attr]


async def test_approve_button_posts_the_outcome_in_the_thread(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        ask = "1700000000.000900"
        await h.mention("Can I take parental leave next month?", ts=ask)
        await h.idle()
        card = h.fake.bot_messages("CHR")[0]
        value = [b for b in card.blocks if b["type"] == "actions"][0]["elements"][0]["value"]
        await h.interact(_card_click(h, "approve", "UADMIN", card.ts, value))
        await h.idle()
        texts = _final_texts(h, "CGEN", ask)
        assert len(texts) == 2 and "UADMIN" in texts[1]
        assert "approved by <@UADMIN>" in h.fake.bot_messages("CHR")[0].text


async def test_slash_command_report_is_for_admins_with_a_file(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        await h.mention("hello", ts="1700000000.001000")
        await h.idle()
        status, body = await h.slash("report --since 7d", "UBOB", "trigBOB")
        assert status == 200 and body == ""
        await h.idle()
        refused = h.fake.responses[-1]
        assert refused["response_type"] == "ephemeral" and "admin" in refused["text"].lower()
        assert h.fake.called("files.completeUploadExternal") == []
        await h.slash("report --since 7d", "UADMIN", "trigADMIN")
        await h.idle()
        report = h.fake.responses[-1]
        assert report["response_type"] == "ephemeral" and "ALLOW" in report["text"]
        done = h.fake.called("files.completeUploadExternal")
        assert len(done) == 1 and done[0]["channel_id"] == "DUADMIN"
        assert b"ALLOW" in h.fake.uploads[0]
        await h.slash("help", "UBOB", "trigHELP")
        await h.idle()
        assert "/so8t resolve" in h.fake.responses[-1]["text"]
        assert not h.fake.called("chat.postMessage", status=None)[1:]  # commands never post in channels


async def test_slash_resolve_checks_the_reviewer_role(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        ask = "1700000000.001100"
        await h.mention("My manager cut my salary", ts=ask)
        await h.idle()
        esc_id = h.fake.bot_messages("CHR")[0].blocks[1]["elements"][0]["value"]
        await h.slash(f"resolve {esc_id} decline not an HR matter", "UBOB", "t1")
        await h.idle()
        assert "reviewer" in h.fake.responses[-1]["text"]
        await h.slash(f"resolve {esc_id} decline not an HR matter", "UREV", "t2")
        await h.idle()
        texts = _final_texts(h, "CGEN", ask)
        assert len(texts) == 2 and "not an HR matter" in texts[1]


async def test_rate_limited_calls_wait_retry_after_and_nothing_is_dropped(tmp_path: Path) -> None:
    fake = FakeSlack()
    async with slack_harness(tmp_path, fake=fake) as h:
        limited = {"ok": False, "error": "ratelimited"}
        fake.fail_next("chat.postMessage", 429, {"Retry-After": "1"}, limited, times=2)
        fake.fail_next("chat.update", 429, {"Retry-After": "0"}, limited, times=1)
        await h.mention("status of the deploy?", ts="1700000000.001200")
        await h.idle()
        assert _final_texts(h, "CGEN", "1700000000.001200") == ["Answer: status of the deploy?"]
        assert len(fake.called("chat.postMessage", status=429)) == 2
        assert len(fake.called("chat.postMessage")) == 1
        assert h.sleeps.count(1.0) >= 2  # Retry-After honoured, through the injected sleep


async def test_long_text_is_split_and_the_same_key_posts_once(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        text = ("word " * 1600).strip()  # 7,999 characters
        ref = await h.slack.reply("CGEN", "1700000000.001300", text, key="answer:long")
        again = await h.slack.reply("CGEN", "1700000000.001300", text, key="answer:long")
        assert ref == again
        posts = h.fake.called("chat.postMessage")
        assert len(posts) == 3 and all(p["thread_ts"] == "1700000000.001300" for p in posts)
        assert all(len(p["text"]) <= 3500 for p in posts)
        assert " ".join(p["text"] for p in posts) == text


async def test_stream_updates_are_throttled_and_the_last_one_wins(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        ref = await h.slack.reply("CGEN", "1700000000.001400", "Ans", key="answer:stream")
        for text in ("Answer", "Answer: one", "Answer: one two", "Answer: one two three"):
            await h.slack.update("CGEN", ref, text)
        await h.slack.drain()
        updates = h.fake.called("chat.update")
        assert [u["text"] for u in updates] == ["Answer: one two three"]
        assert h.sleeps and 0 < h.sleeps[0] <= 1.0
