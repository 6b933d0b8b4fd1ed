"""Discord flows: discord.py's real client and parsers, its REST pointed at the loopback FakeDiscord."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.adapters.discord.harness import (
    ADMIN,
    ALICE,
    BOB,
    CONFIG,
    GENERAL,
    HR,
    HR_ROLE,
    REVIEWER,
    DiscordHarness,
    button_click,
    command,
    discord_harness,
    message_create,
    modal_submit,
)
from tests.support.fakes_platforms import FakeDiscord


async def test_mention_is_answered_in_a_thread_started_from_the_message(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        d = await h.say("Summarize the meeting notes")
        await h.idle()
        threads = h.fake.called("start_thread")
        assert len(threads) == 1 and threads[0]["channel"] == GENERAL and threads[0]["message"] == d["id"]
        assert threads[0]["name"] == "Summarize the meeting notes"
        assert h.texts(d["id"]) == ["Answer: Summarize the meeting notes"]  # thread id == message id
        assert h.sent(d["id"])[0]["allowed_mentions"]["parse"] == []  # echoed text never pings anyone
        assert h.runtime.calls[0] == ("decide", "Summarize the meeting notes")


async def test_follow_up_in_the_thread_needs_no_mention_and_gets_context(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        d = await h.say("How do I book a room?")
        await h.idle()
        follow = h.fake.add_user_message(d["id"], "And for ten people?", ALICE)
        h.discord.feed("MESSAGE_CREATE", follow)
        stranger = message_create("unrelated chatter", author=BOB, mention_bot=False)
        h.discord.feed("MESSAGE_CREATE", stranger)
        await h.idle()
        assert h.texts(d["id"]) == ["Answer: How do I book a room?", "Answer: And for ten people?"]
        assert len(h.fake.called("start_thread")) == 1
        ctx = h.runtime.contexts[-1]
        assert [(t.role, t.text) for t in ctx] == [("assistant", "Answer: How do I book a room?")]
        assert [c for c, _ in h.runtime.calls].count("decide") == 2


async def test_replies_where_threads_are_not_allowed_and_in_dms(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        h.fake.no_threads.add(GENERAL)
        d = await h.say("What is the VPN address?")
        dm = await h.say("hello in private", channel="700000000000000001", guild=None, mention_bot=False)
        bot_author = message_create("I am a bot", mention_bot=True)
        bot_author["author"]["bot"] = True
        h.discord.feed("MESSAGE_CREATE", bot_author)
        await h.idle()
        in_channel = h.sent(GENERAL)
        assert len(in_channel) == 1 and str(in_channel[0]["message_reference"]["message_id"]) == d["id"]
        assert h.texts(GENERAL) == ["Answer: What is the VPN address?"]
        in_dm = h.sent(dm["channel_id"])
        assert len(in_dm) == 1 and str(in_dm[0]["message_reference"]["message_id"]) == dm["id"]
        assert len(h.fake.called("start_thread", status=None)) == 1  # tried once in the guild, never in DMs
        assert [c for c, _ in h.runtime.calls].count("decide") == 2


async def test_long_text_is_split_at_2000_characters(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        text = ("word " * 1000).strip()  # 4,999 characters
        ref = await h.discord.post(GENERAL, text, key="notice:long", kind="notice")
        assert ref == await h.discord.post(GENERAL, text, key="notice:long", kind="notice")
        sent = h.sent(GENERAL)
        assert len(sent) == 3 and all(len(s["content"]) <= 2000 for s in sent)
        assert " ".join(s["content"] for s in sent) == text


def _card(h: DiscordHarness) -> tuple[dict[str, Any], str]:
    cards = h.bot_messages(HR)
    assert len(cards) == 1
    card = cards[0]
    ids = [c["custom_id"] for row in card["components"] for c in row["components"]]
    esc = ids[0].split(":")[2]
    assert ids == [f"so8t:approve:{esc}", f"so8t:decline:{esc}", f"so8t:answer:{esc}"]
    return card, esc


async def test_card_buttons_keep_working_after_a_restart(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        d = await h.say("My manager cut my salary without notice")
        await h.idle()
        assert "hr reviewers" in h.texts(d["id"])[0]
        card, esc = _card(h)
        assert "salary" in card["content"]
        # the process restarts: a new client; the persistent buttons are registered again at start
        await h.discord.stop()
        h.restart_adapter()
        await h.discord.start()
        n = len(h.fake.interaction_responses)
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:approve:{esc}", BOB, card))
        await h.fake.wait_for(lambda: len(h.fake.followups) >= 1)
        assert h.fake.interaction_responses[n]["type"] == 6  # deferred at once
        assert "reviewer" in h.fake.followups[-1]["content"] and h.fake.followups[-1]["flags"] == 64
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:approve:{esc}", REVIEWER, card))
        await h.fake.wait_for(lambda: len(h.fake.interaction_responses) >= n + 2)
        await h.idle()
        texts = h.texts(d["id"])
        assert len(texts) == 2 and REVIEWER in texts[1]
        resolved = h.bot_messages(HR)[0]
        assert "approved by" in resolved["content"] and resolved["components"] == []
        assert h.app.store.get_escalation(int(esc)).status == "resolved"  # type: ignore[union-attr]


async def test_answer_button_opens_a_modal_whose_text_reaches_the_asker(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        d = await h.say("Can I take parental leave next month?")
        await h.idle()
        card, esc = _card(h)
        # a non-reviewer gets a private line, not the form
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:answer:{esc}", BOB, card))
        await h.fake.wait_for(lambda: h.fake.interaction_responses)
        refused = h.fake.interaction_responses[-1]
        assert refused["type"] == 4 and "reviewer" in refused["data"]["content"] and refused["data"]["flags"] == 64
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:answer:{esc}", REVIEWER, card))
        await h.fake.wait_for(lambda: len(h.fake.interaction_responses) >= 2)
        modal = h.fake.interaction_responses[-1]
        assert modal["type"] == 9 and modal["data"]["custom_id"] == f"so8t-modal:answer:{esc}"
        h.discord.feed(
            "INTERACTION_CREATE",
            modal_submit(f"so8t-modal:answer:{esc}", REVIEWER, "Yes, file the form by Friday.", card),
        )
        await h.fake.wait_for(lambda: len(h.fake.interaction_responses) >= 3)
        await h.idle()
        texts = h.texts(d["id"])
        assert len(texts) == 2 and "Yes, file the form by Friday." in texts[1]


async def test_slash_commands_are_deferred_ephemeral_and_role_checked(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        await h.say("hello")
        await h.idle()
        sync = h.fake.called("sync_commands")
        assert sync and sync[-1]["commands"][0]["name"] == "so8t"
        subs = {o["name"] for o in sync[-1]["commands"][0]["options"]}
        assert subs == {"help", "status", "report", "resolve", "appeal"}
        h.discord.feed("INTERACTION_CREATE", command("report", BOB, [{"name": "since", "type": 3, "value": "7d"}]))
        await h.fake.wait_for(lambda: h.fake.followups)
        await h.idle()
        deferred = h.fake.interaction_responses[-1]
        assert deferred["type"] == 5 and deferred["data"]["flags"] == 64  # deferred, ephemeral
        assert "admin" in h.fake.followups[-1]["content"].lower() and h.fake.followups[-1]["files"] == []
        h.discord.feed("INTERACTION_CREATE", command("report", ADMIN, [{"name": "since", "type": 3, "value": "7d"}]))
        await h.fake.wait_for(lambda: len(h.fake.followups) >= 2)
        report = h.fake.followups[-1]
        assert "ALLOW" in report["content"] and report["flags"] == 64
        assert report["files"] and b"ALLOW" in report["files"][0][1]
        h.discord.feed("INTERACTION_CREATE", command("help", BOB))
        await h.fake.wait_for(lambda: len(h.fake.followups) >= 3)
        assert "/so8t resolve" in h.fake.followups[-1]["content"]


async def test_slash_resolve_by_reviewer_answers_in_the_thread(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        d = await h.say("My manager cut my salary")
        await h.idle()
        _, esc = _card(h)
        opts = [
            {"name": "case", "type": 4, "value": int(esc)},
            {"name": "action", "type": 3, "value": "decline"},
            {"name": "text", "type": 3, "value": "not an HR matter"},
        ]
        h.discord.feed("INTERACTION_CREATE", command("resolve", BOB, opts))
        await h.fake.wait_for(lambda: h.fake.followups)
        assert "reviewer" in h.fake.followups[-1]["content"]
        h.discord.feed("INTERACTION_CREATE", command("resolve", REVIEWER, opts))
        await h.fake.wait_for(lambda: len(h.fake.followups) >= 2)
        await h.idle()
        texts = h.texts(d["id"])
        assert len(texts) == 2 and "not an HR matter" in texts[1]


async def test_the_same_message_delivered_twice_is_answered_once(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        d = message_create("hello twice")
        h.discord.feed("MESSAGE_CREATE", d)
        h.discord.feed("MESSAGE_CREATE", d)  # a gateway resume can redeliver
        await h.idle()
        assert h.texts(d["id"]) == ["Answer: hello twice"]
        assert FakeDiscord.BOT_ID not in h.runtime.calls[0][1]


async def test_a_reviewer_by_role_id_can_resolve_and_others_with_that_role_elsewhere_cannot(tmp_path: Path) -> None:
    config = {**CONFIG, "roles": {"admins": [], "reviewers": {"hr": [f"discord:role:{HR_ROLE}"]}}}
    async with discord_harness(tmp_path, config) as h:
        d = await h.say("My manager cut my salary without notice")
        await h.idle()
        card, esc = _card(h)
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:approve:{esc}", BOB, card, roles=["999"]))
        await h.fake.wait_for(lambda: len(h.fake.followups) >= 1)
        assert h.app.store.get_escalation(int(esc)).status == "open"  # type: ignore[union-attr]
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:approve:{esc}", BOB, card, roles=[HR_ROLE]))
        await h.fake.wait_for(lambda: h.app.store.get_escalation(int(esc)).status == "resolved")  # type: ignore[union-attr]
        await h.idle()
        assert len(h.texts(d["id"])) == 2


def _cards(h: DiscordHarness) -> list[tuple[dict[str, Any], str]]:
    """The open cards in the HR channel, oldest first, with their case ids."""
    cards = [c for c in h.bot_messages(HR) if c["components"]]
    return [(c, c["components"][0]["components"][0]["custom_id"].split(":")[2]) for c in cards]


async def test_cards_name_people_and_channels_as_mentions_and_ping_nobody(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        d = await h.say("My manager cut my salary without notice")
        await h.idle()
        card, esc = _card(h)
        header = card["content"].splitlines()[0]
        assert f"from <@{ALICE}> in <#{GENERAL}>" in header and f"from {ALICE}" not in header
        assert h.sent(HR)[0]["allowed_mentions"] == {"parse": []}  # mentions show names, ping nobody
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:approve:{esc}", REVIEWER, card))
        await h.fake.wait_for(lambda: len(h.texts(d["id"])) == 2)
        await h.idle()
        resolved = h.bot_messages(HR)[0]["content"].splitlines()[0]
        assert resolved.endswith(f"approved by <@{REVIEWER}>")
        assert h.fake.called("edit_message")[-1]["allowed_mentions"]["parse"] == []  # edits ping nobody either
        assert f"<@{REVIEWER}>" in h.texts(d["id"])[1]
        assert h.sent(d["id"])[-1]["allowed_mentions"]["parse"] == []
        # a Japanese asker's card: the same mentions in the Japanese header
        await h.say("上司に給与を減らされました")
        await h.idle()
        ja = _cards(h)[0][0]["content"].splitlines()[0]
        assert f"<@{ALICE}> さん（<#{GENERAL}>）" in ja


async def test_an_escalated_requests_thread_gets_a_neutral_title_never_its_text(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        d = await h.say("My manager cut my salary without notice, my employee id is 4471")
        await h.idle()
        _, esc = _card(h)
        threads = h.fake.called("start_thread")
        assert [t["message"] for t in threads] == [d["id"]]
        assert threads[0]["name"] == f"SO8T case #{esc} — HR review"
        ja = await h.say("上司に給与を減らされました")
        await h.idle()
        esc_ja = _cards(h)[1][1]
        assert h.fake.called("start_thread")[1]["name"] == f"SO8T 案件 #{esc_ja} — HR の確認"
        assert h.texts(ja["id"]) and h.fake.called("edit_channel", status=None) == []


async def test_a_refused_requests_thread_is_retitled_when_the_refusal_is_appealed(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        d = await h.say("write an insult for my coworker")
        await h.idle()
        assert h.fake.threads[d["id"]]["name"] == "write an insult for my coworker"
        refusal = h.bot_messages(d["id"])[0]
        appeal = refusal["components"][0]["components"][0]["custom_id"]
        assert appeal.startswith("so8t:appeal:")
        h.discord.feed("INTERACTION_CREATE", button_click(appeal, ALICE, refusal))
        await h.fake.wait_for(lambda: h.fake.called("edit_channel"))
        await h.idle()
        _, esc = _card(h)
        assert h.fake.threads[d["id"]]["name"] == f"SO8T case #{esc} — HR review"
        assert h.fake.called("edit_channel") == [{"channel": d["id"], "name": f"SO8T case #{esc} — HR review"}]


async def test_answer_and_decline_forms_open_only_for_a_reviewer_of_the_cases_domain(tmp_path: Path) -> None:
    reviewers = {"hr": [f"discord:{REVIEWER}"], "compliance": [f"discord:{BOB}"]}
    config = {**CONFIG, "roles": {"admins": [f"discord:{ADMIN}"], "reviewers": reviewers}}
    async with discord_harness(tmp_path, config) as h:
        await h.say("My manager cut my salary without notice")
        await h.idle()
        card, esc = _card(h)
        for action in ("answer", "decline"):
            n = len(h.fake.interaction_responses)
            h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:{action}:{esc}", BOB, card))  # compliance only
            await h.fake.wait_for(lambda n=n: len(h.fake.interaction_responses) > n)  # type: ignore[misc]
            refused = h.fake.interaction_responses[-1]
            assert refused["type"] == 4 and refused["data"]["flags"] == 64  # a private line, not the form
            assert "hr reviewers" in refused["data"]["content"] and f"<@{BOB}>" in refused["data"]["content"]
            for who in (REVIEWER, ADMIN):
                n = len(h.fake.interaction_responses)
                h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:{action}:{esc}", who, card))
                await h.fake.wait_for(lambda n=n: len(h.fake.interaction_responses) > n)  # type: ignore[misc]
                form = h.fake.interaction_responses[-1]
                assert form["type"] == 9 and form["data"]["custom_id"] == f"so8t-modal:{action}:{esc}"
        assert h.app.store.get_escalation(int(esc)).status == "open"  # type: ignore[union-attr]
