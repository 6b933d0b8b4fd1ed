"""Discord payload dicts -> bot.events, without a client (pure)."""

from __future__ import annotations

import pytest

from adapters.discord import translate
from bot.events import ActionEvent, Message
from tests.adapters.discord.harness import (
    ALICE,
    GENERAL,
    HR_ROLE,
    REVIEWER,
    button_click,
    command,
    message_create,
    modal_submit,
)
from tests.support.fakes_platforms import FakeDiscord

BOT = FakeDiscord.BOT_ID


def test_message_create_mention_becomes_a_message_in_its_own_thread() -> None:
    d = message_create("  where is   the <b>wiki</b>?\x07", mid="510000000000000001")
    got = translate.message_from_payload(d, BOT)
    assert got is not None and got.addressed and not got.direct
    assert got.message == Message(
        "discord",
        GENERAL,
        d["id"],
        ALICE,
        "where is the <b>wiki</b>?",
        d["id"],
        d["id"],
        translate.snowflake_time(d["id"]),
    )


def test_dm_thread_follow_up_bots_and_system_messages() -> None:
    dm = message_create("hi", guild=None, mention_bot=False)
    got = translate.message_from_payload(dm, BOT)
    assert got is not None and got.addressed and got.direct
    follow = message_create("and then?", channel="520000000000000001", mention_bot=False)
    got = translate.message_from_payload(follow, BOT, in_thread=True)
    assert got is not None and not got.addressed and got.message.thread == "520000000000000001"
    bot = message_create("beep")
    bot["author"]["bot"] = True
    assert translate.message_from_payload(bot, BOT) is None
    own = message_create("me")
    own["author"]["id"] = BOT
    assert translate.message_from_payload(own, BOT) is None
    joined = message_create("joined")
    joined["type"] = 7
    assert translate.message_from_payload(joined, BOT) is None
    legacy = message_create("x", mention_bot=False)
    legacy["content"] = f"<@!{BOT}> nickname mention"
    got = translate.message_from_payload(legacy, BOT)
    assert got is not None and got.addressed and got.message.text == "nickname mention"


def test_button_and_modal_interactions_become_action_events() -> None:
    card = {"id": "530000000000000001", "channel_id": "540000000000000001"}
    click = button_click("so8t:approve:12", REVIEWER, card, roles=[HR_ROLE])
    ev = translate.action_from_interaction(click)
    assert ev == ActionEvent(
        "discord",
        REVIEWER,
        "approve",
        "12",
        f"i:{click['id']}",
        card["channel_id"],
        card["id"],
        card["id"],
        "",
        translate.snowflake_time(click["id"]),
    )
    assert translate.member_roles(click) == (HR_ROLE,)
    sub = modal_submit("so8t-modal:answer:12", REVIEWER, " Yes, you can. ", card)
    ev = translate.action_from_interaction(sub)
    assert ev is not None and ev.action == "answer" and ev.text == "Yes, you can."
    assert translate.action_from_interaction(button_click("someone-else:1", REVIEWER, card)) is None
    assert translate.action_from_interaction(button_click("so8t:delete:1", REVIEWER, card)) is None


def test_application_commands_become_command_text() -> None:
    d = command(
        "resolve",
        REVIEWER,
        [
            {"name": "case", "type": 4, "value": 3},
            {"name": "action", "type": 3, "value": "answer"},
            {"name": "text", "type": 3, "value": "Talk to HR"},
        ],
    )
    msg = translate.command_from_interaction(d)
    assert msg is not None and msg.text == "/so8t resolve 3 answer Talk to HR"
    assert translate.parse_slash_thread(msg.thread) == translate.SlashThread(REVIEWER, "resolve", d["id"])
    report = translate.command_from_interaction(command("report", ALICE, [{"name": "since", "type": 3, "value": "7d"}]))
    assert report is not None and report.text == "/so8t report --since 7d"
    assert translate.command_from_interaction(command("help", ALICE)).text == "/so8t help"  # type: ignore[union-attr]
    bad = command("help", ALICE)
    bad["data"]["options"] = []
    with pytest.raises(translate.PayloadError):
        translate.command_from_interaction(bad)


def test_history_becomes_turns_oldest_first() -> None:
    user_msg = message_create("first question", mention_bot=False, mid="550000000000000001")
    answer = message_create("Answer: first", mid="550000000000000002", mention_bot=False)
    answer["author"] = {"id": BOT, "username": "so8t", "bot": True}
    notice = message_create("a person will follow up", mid="550000000000000003", mention_bot=False)
    notice["author"] = {"id": BOT, "username": "so8t", "bot": True}
    cmd = message_create("/so8t status", mid="550000000000000004", mention_bot=False)
    later = message_create("later", mid="550000000000000009", mention_bot=False)
    turns = translate.turns_from_history(
        [later, cmd, notice, answer, user_msg],
        "550000000000000005",
        BOT,
        {"550000000000000002": "answer", "550000000000000003": "notice"},
    )
    assert [(t.role, t.text) for t in turns] == [("user", "first question"), ("assistant", "Answer: first")]


def test_ids_of_a_cases_people_and_channel_become_mentions_on_the_first_line_only() -> None:
    card = f"[escalation] #7 · hr · from {ALICE} in #{GENERAL}\n> call {ALICE} at #{GENERAL}"
    got = translate.mention_ids(card, [ALICE], [GENERAL])
    assert got == f"[escalation] #7 · hr · from <@{ALICE}> in <#{GENERAL}>\n> call {ALICE} at #{GENERAL}"
    assert translate.mention_ids(got, [ALICE], [GENERAL]) == got  # already mentions: left alone
    ja = f"#7 · hr · {ALICE} さん（#{GENERAL}）"
    assert translate.mention_ids(ja, [ALICE], [GENERAL], dms=[GENERAL]) == f"#7 · hr · <@{ALICE}> さん（DM）"
    longer = ALICE + "9"
    assert translate.mention_ids(f"{longer} and {ALICE}", [ALICE]) == f"{longer} and <@{ALICE}>"
    assert translate.mention_ids(f"{REVIEWER} answered:", [REVIEWER, "not-an-id"]) == f"<@{REVIEWER}> answered:"


def test_a_case_thread_title_names_the_case_and_domain_in_the_askers_language() -> None:
    assert translate.case_thread_name(12, "hr", "en") == "SO8T case #12 — HR review"
    assert translate.case_thread_name(3, "compliance", "en") == "SO8T case #3 — Compliance review"
    assert translate.case_thread_name(12, "hr", "ja") == "SO8T 案件 #12 — HR の確認"
    assert len(translate.case_thread_name(10**18, "x" * 200, "en")) <= 100  # Discord's limit
