"""Slack payload dicts -> bot.events, and Block Kit builders (pure)."""

from __future__ import annotations

from adapters.slack import translate
from adapters.textsplit import split_text
from bot.events import Button


def test_mention_and_dm_events() -> None:
    ev = {
        "type": "app_mention",
        "user": "U1",
        "channel": "C1",
        "ts": "1.000100",
        "text": "<@UBOT> tell me &lt;b&gt; &amp; more",
    }
    got = translate.message_from_event(ev, "UBOT")
    assert got is not None and got.addressed and not got.in_thread
    assert got.message.text == "tell me <b> & more" and got.message.thread == "1.000100"
    assert got.message.event_id == "C1:1.000100"
    reply = {"type": "message", "user": "U1", "channel": "C1", "ts": "2.0", "thread_ts": "1.000100", "text": "and?"}
    got = translate.message_from_event(reply, "UBOT")
    assert got is not None and not got.addressed and got.in_thread and got.message.thread == "1.000100"
    for ignored in (
        {**reply, "subtype": "message_changed"},
        {**reply, "bot_id": "B1"},
        {**reply, "user": "UBOT"},
        {**reply, "type": "reaction_added"},
    ):
        assert translate.message_from_event(ignored, "UBOT") is None


def test_slash_command_and_its_ephemeral_thread() -> None:
    msg = translate.command_from_slash(
        {"command": "/so8t", "text": "report --since 7d", "user_id": "U9", "channel_id": "C1", "trigger_id": "123.456"}
    )
    assert msg.text == "/so8t report --since 7d" and msg.event_id == "slash:123.456"
    assert translate.parse_slash_thread(msg.thread) == translate.SlashThread("U9", "report", "123.456")
    assert (
        translate.command_from_slash({"text": "", "user_id": "U", "channel_id": "C", "trigger_id": "t"}).text == "/so8t"
    )


def test_card_blocks_escape_user_text_and_carry_buttons() -> None:
    blocks = translate.blocks(
        "<!channel> ping <@U1>", (Button("approve", "Approve", "7", "primary"), Button("answer", "Answer", "7"))
    )
    assert blocks[0]["text"]["text"] == "&lt;!channel&gt; ping &lt;@U1&gt;"
    assert [e["action_id"] for e in blocks[1]["elements"]] == ["so8t_approve", "so8t_answer"]
    assert blocks[1]["elements"][0]["style"] == "primary" and "style" not in blocks[1]["elements"][1]


def test_mention_ids_name_people_and_channels_on_the_first_line_only() -> None:
    card = "[escalation] #3 · hr · from U0ALICE01 in #C0GENERAL\n> ask U0ALICE01 in #C0GENERAL <@UBOB>"
    text = translate.mrkdwn(card, ["U0ALICE01"], ["C0GENERAL"])
    first, quoted = text.split("\n")
    assert first == "[escalation] #3 · hr · from <@U0ALICE01> in <#C0GENERAL>"
    assert quoted == "&gt; ask U0ALICE01 in #C0GENERAL &lt;@UBOB&gt;"  # the asker's text: escaped, never a mention
    ja = translate.mrkdwn("[エスカレーション] #4 · hr · U0ALICE01 さん（#C0GENERAL）", ["U0ALICE01"], ["C0GENERAL"])
    assert ja.endswith("<@U0ALICE01> さん（<#C0GENERAL>）")
    # a DM is no channel to link; a longer id, an id inside a word or inside a mention are left alone
    assert translate.mrkdwn("from U1AB in #D0DM1", ["U1AB"], ["D0DM1"]) == "from <@U1AB> in DM"
    assert translate.mention_ids("U1ABC XU1AB <@U1AB>", ["U1AB"]) == "U1ABC XU1AB <@U1AB>"
    assert translate.mention_ids("by reviewer in #general", ["reviewer"], ["general"]) == "by reviewer in #general"
    blocks = translate.blocks(card, (Button("approve", "Approve", "3", "primary"),), ["U0ALICE01"], ["C0GENERAL"])
    assert blocks[0]["text"]["text"] == text


def test_turns_from_replies_keep_answers_and_people() -> None:
    msgs = [
        {"ts": "1.0", "user": "U1", "text": "<@UBOT> q1"},
        {"ts": "1.1", "bot_id": "BBOT", "text": "a1"},
        {"ts": "1.2", "bot_id": "BBOT", "text": "a person will follow up"},
        {"ts": "1.3", "user": "U1", "text": "/so8t help"},
        {"ts": "1.4", "user": "U1", "text": "q2"},
    ]
    turns = translate.turns_from_replies(msgs, "1.4", "UBOT", "BBOT", {"1.1": "answer", "1.2": "notice"})
    assert [(t.role, t.text) for t in turns] == [("user", "q1"), ("assistant", "a1")]


def test_retry_after_and_split() -> None:
    assert translate.retry_after({"retry-after": "3"}, 1.0) == 3.0
    assert translate.retry_after({"Retry-After": ["0"]}, 1.0) == 0.0
    assert translate.retry_after({}, 2.0) == 2.0
    assert split_text("a" * 10, 4) == ["aaaa", "aaaa", "aa"]
    assert split_text("", 5) == [""]
