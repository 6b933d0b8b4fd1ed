"""Slack cards, reminders and resolutions name people and channels as mentions (`<@U…>`, `<#C…>`: Slack
shows names), never raw ids, on their first line only; nothing is posted with link_names."""

from __future__ import annotations

import time
from pathlib import Path

from tests.adapters.slack.harness import slack_harness
from tests.adapters.slack.test_slack_flows import _card_click


async def test_cards_reminders_and_resolutions_show_mentions_not_raw_ids(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        ask = "1700000000.002000"
        await h.mention("My manager cut my salary; UALICE in #CGEN is me", ts=ask)
        await h.idle()
        card = h.fake.bot_messages("CHR")[0]
        header, quoted = card.text.split("\n")[:2]
        assert header.endswith("from <@UALICE> in <#CGEN>") and "from UALICE" not in header
        assert "UALICE in #CGEN is me" in quoted and "<@" not in quoted  # the asker's text is never a mention
        assert card.blocks[0]["text"]["text"].split("\n")[0] == header  # the section shows the same header
        for call in h.fake.called("chat.postMessage"):
            assert not call.get("link_names")  # only our <@U…> / <#C…> are mentions: no @name linking

        # the deadline passes: the reminder in the card's thread names the asker too
        assert await h.app.bot.check_deadlines(now=time.time() + 30 * 86400) == 1
        await h.idle()
        reminder = h.fake.bot_messages("CHR", card.ts)[-1].text
        assert reminder.startswith("Reminder:") and "from <@UALICE>" in reminder

        value = [b for b in card.blocks if b["type"] == "actions"][0]["elements"][0]["value"]
        await h.interact(_card_click(h, "approve", "UREV", card.ts, value))
        await h.idle()
        resolved = h.fake.bot_messages("CHR")[0]
        assert resolved.text.split("\n")[0].endswith("approved by <@UREV>")
        outcome = [m.text for m in h.fake.bot_messages("CGEN", ask)][-1]
        assert "<@UREV>" in outcome and "UREV" not in outcome.replace("<@UREV>", "")
        edits = h.fake.called("chat.update")
        assert edits and not any(e.get("link_names") for e in edits)

        # a Japanese asker's card: the same mentions in the Japanese header
        await h.mention("上司に給与を減らされました", ts="1700000000.003000")
        await h.idle()
        ja = h.fake.bot_messages("CHR")[-1]
        assert ja.thread_ts == "" and "<@UALICE> さん（<#CGEN>）" in ja.text.split("\n")[0]


async def test_a_refused_click_names_the_clicker_as_a_mention_only_they_see(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        await h.mention("My salary is wrong this month", ts="1700000000.004000")
        await h.idle()
        card = h.fake.bot_messages("CHR")[0]
        value = [b for b in card.blocks if b["type"] == "actions"][0]["elements"][0]["value"]
        await h.interact(_card_click(h, "approve", "UBOB", card.ts, value))
        await h.idle()
        eph = h.fake.called("chat.postEphemeral")[-1]
        assert eph["user"] == "UBOB" and "<@UBOB>" in eph["text"]
