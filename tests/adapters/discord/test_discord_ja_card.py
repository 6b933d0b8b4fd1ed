"""A Japanese case on Discord: the card's buttons, the Answer form's title and field label, and the resolved card
in Japanese; an English case's form stays English."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.adapters.discord.harness import HR, REVIEWER, button_click, discord_harness, modal_submit
from tests.adapters.discord.test_discord_flows import _card


def _labels(card: dict[str, Any]) -> list[str]:
    return [c["label"] for row in card["components"] for c in row["components"]]


def _form_field(form: dict[str, Any]) -> dict[str, Any]:
    return dict(form["data"]["components"][0]["components"][0])


async def test_japanese_card_and_answer_form_on_discord(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        d = await h.say("給与の計算が間違っています")
        await h.idle()
        card, esc = _card(h)
        assert "[エスカレーション]" in card["content"] and "期限" in card["content"]
        assert _labels(card) == ["承認", "却下", "回答"]
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:answer:{esc}", REVIEWER, card))
        await h.fake.wait_for(lambda: h.fake.interaction_responses)
        form = h.fake.interaction_responses[-1]
        assert form["type"] == 9 and form["data"]["title"] == f"案件 #{esc} に回答"
        assert _form_field(form)["label"] == "依頼者への回答" and _form_field(form)["required"] is True
        h.discord.feed(
            "INTERACTION_CREATE",
            modal_submit(f"so8t-modal:answer:{esc}", REVIEWER, "人事部から本日ご連絡します。", card),
        )
        await h.fake.wait_for(lambda: len(h.fake.interaction_responses) >= 2)
        await h.idle()
        assert "人事部から本日ご連絡します。" in h.texts(d["id"])[1]
        resolved = h.bot_messages(HR)[0]
        assert "[対応済み]" in resolved["content"] and resolved["components"] == []


async def test_english_decline_form_on_discord(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        await h.say("My manager cut my salary without notice")
        await h.idle()
        card, esc = _card(h)
        assert _labels(card) == ["Approve", "Decline", "Answer"]
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:decline:{esc}", REVIEWER, card))
        await h.fake.wait_for(lambda: h.fake.interaction_responses)
        form = h.fake.interaction_responses[-1]
        assert form["type"] == 9 and form["data"]["title"] == f"Decline case #{esc}"
        assert _form_field(form)["label"] == "Reason (optional)" and _form_field(form)["required"] is False
