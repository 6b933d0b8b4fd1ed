"""Discord: a reviewer's Answer saved to the knowledge base from the resolved card's button (FakeDiscord)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.adapters.discord.harness import (
    ALICE,
    BOB,
    CONFIG,
    HR,
    REVIEWER,
    DiscordHarness,
    button_click,
    discord_harness,
    modal_submit,
)

ASK = "My manager says: can I take leave to volunteer after the flood next month?"
NEXT = "Can I take leave to volunteer after the flood?"
ANSWER = "Yes. Volunteer leave is 3 paid days a year. Ask hanako.sato@example.com or call 090-1234-5678."


def _ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


def _labels(message: dict[str, Any]) -> list[str]:
    return [c["label"] for row in message["components"] for c in row["components"]]


async def _answered(h: DiscordHarness) -> tuple[dict[str, Any], str]:
    await h.say(ASK, author=ALICE)
    await h.idle()
    card = h.bot_messages(HR)[0]
    esc = _ids(card)[0].split(":")[2]
    h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:answer:{esc}", REVIEWER, card))
    await h.fake.wait_for(lambda: h.fake.interaction_responses)
    h.discord.feed("INTERACTION_CREATE", modal_submit(f"so8t-modal:answer:{esc}", REVIEWER, ANSWER, card))
    await h.fake.wait_for(lambda: len(h.fake.interaction_responses) >= 2)
    await h.idle()
    return h.bot_messages(HR)[0], esc


async def test_the_resolved_card_saves_the_answer_for_the_next_asker(tmp_path: Path) -> None:
    folder = tmp_path / "reviewed"
    cfg = {**CONFIG, "knowledge": {"folders": [{"path": str(folder), "answers": True}]}}
    async with discord_harness(tmp_path, cfg) as h:
        card, esc = await _answered(h)
        assert _ids(card) == [f"so8t:kb_save:{esc}"] and _labels(card) == ["Save to knowledge base"]
        # not a reviewer of the case's domain: a private line, nothing written
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:kb_save:{esc}", BOB, card))
        await h.fake.wait_for(lambda: h.fake.followups)
        assert "Only hr reviewers or admins" in h.fake.followups[-1]["content"]
        assert h.fake.followups[-1]["flags"] == 64 and not folder.exists()
        # the reviewer saves: a masked page, the card updated without the button
        h.discord.feed("INTERACTION_CREATE", button_click(f"so8t:kb_save:{esc}", REVIEWER, card))
        await h.fake.wait_for(lambda: (folder / f"case-{esc}.md").exists())
        await h.idle()
        page = (folder / f"case-{esc}.md").read_text(encoding="utf-8")
        assert "Volunteer leave is 3 paid days a year" in page and f'reviewer: "{REVIEWER}"' in page
        assert "hanako.sato@example.com" not in page and "090-1234-5678" not in page
        await h.fake.wait_for(lambda: h.bot_messages(HR)[0]["components"] == [])
        assert "Saved to the knowledge base by" in h.bot_messages(HR)[0]["content"]
        # the next asker is answered from it, with the page as the source
        d = await h.say(NEXT, author=BOB)
        await h.idle()
        reply = h.texts(d["id"])[-1]
        assert "Sources:" in reply and f"(reviewed/case-{esc}.md)" in reply
