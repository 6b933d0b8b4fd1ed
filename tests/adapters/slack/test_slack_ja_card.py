"""A Japanese case on Slack: the card's buttons, the Answer modal's title, field and buttons, and the resolved
card in Japanese; an English case's modal stays English."""

from __future__ import annotations

from pathlib import Path

from tests.adapters.slack.harness import slack_harness
from tests.adapters.slack.test_slack_flows import _card_click, _final_texts, _submission


async def test_japanese_card_and_answer_modal_on_slack(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        ask = "1700000000.001100"
        await h.mention("給与の計算が間違っています", ts=ask)
        await h.idle()
        card = h.fake.bot_messages("CHR")[0]
        assert "[エスカレーション]" in card.text and "期限" in card.text
        buttons = [b for b in card.blocks if b["type"] == "actions"][0]["elements"]
        assert [b["text"]["text"] for b in buttons] == ["承認", "却下", "回答"]
        value = buttons[0]["value"]
        await h.interact(_card_click(h, "answer", "UREV", card.ts, value))
        await h.idle()
        view = h.fake.called("views.open")[-1]["view"]
        assert view["title"]["text"] == f"案件 #{value} に回答"
        assert (view["submit"]["text"], view["close"]["text"]) == ("送信", "キャンセル")
        assert view["blocks"][0]["label"]["text"] == "依頼者への回答"
        await h.interact(_submission(view, "UREV", "人事部から本日ご連絡します。"))
        await h.idle()
        assert "人事部から本日ご連絡します。" in _final_texts(h, "CGEN", ask)[1]
        resolved = h.fake.bot_messages("CHR")[0]
        assert "[対応済み]" in resolved.text and "回答しました" in resolved.text and resolved.blocks == []


async def test_english_decline_modal_on_slack(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        await h.mention("My manager cut my salary without notice", ts="1700000000.001200")
        await h.idle()
        card = h.fake.bot_messages("CHR")[0]
        buttons = [b for b in card.blocks if b["type"] == "actions"][0]["elements"]
        assert [b["text"]["text"] for b in buttons] == ["Approve", "Decline", "Answer"]
        await h.interact(_card_click(h, "decline", "UREV", card.ts, buttons[0]["value"]))
        await h.idle()
        view = h.fake.called("views.open")[-1]["view"]
        assert view["title"]["text"] == f"Decline case #{buttons[0]['value']}"
        assert (view["submit"]["text"], view["close"]["text"]) == ("Send", "Cancel")
        assert view["blocks"][0]["label"]["text"] == "Reason (optional)" and view["blocks"][0]["optional"] is True
