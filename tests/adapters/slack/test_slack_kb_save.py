"""Slack: a reviewer's Answer saved to the knowledge base from the resolved card's button (fake Web API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.adapters.slack.harness import CONFIG, SlackHarness, slack_harness
from tests.adapters.slack.test_slack_flows import _card_click, _submission

ASK = "My manager says: can I take leave to volunteer after the flood next month?"
NEXT = "Can I take leave to volunteer after the flood?"
ANSWER = "Yes. Volunteer leave is 3 paid days a year. Ask hanako.sato@example.com or call 090-1234-5678."


def _actions(h: SlackHarness, channel: str = "CHR") -> list[dict[str, Any]]:
    card = h.fake.bot_messages(channel)[0]
    return [e for b in card.blocks if b["type"] == "actions" for e in b["elements"]]


async def test_the_resolved_card_saves_the_answer_for_the_next_asker(tmp_path: Path) -> None:
    folder = tmp_path / "reviewed"
    cfg = {**CONFIG, "knowledge": {"folders": [{"path": str(folder), "channels": ["CGEN"], "answers": True}]}}
    async with slack_harness(tmp_path, cfg) as h:
        await h.mention(ASK, ts="1700000000.002100")
        await h.idle()
        card = h.fake.bot_messages("CHR")[0]
        value = _actions(h)[0]["value"]
        await h.interact(_card_click(h, "answer", "UREV", card.ts, value))
        await h.idle()
        view = h.fake.called("views.open")[-1]["view"]
        status, body = await h.interact(_submission(view, "UREV", ANSWER))
        assert status == 200 and "errors" not in body
        await h.idle()
        # the reviewer's confirmation (the resolved card) now carries one button: Save to knowledge base
        buttons = _actions(h)
        assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [("so8t_kb_save", "Save to knowledge base")]
        # someone without the hr reviewer role is told privately; nothing is written
        await h.interact(_card_click(h, "kb_save", "UBOB", card.ts, value))
        await h.idle()
        eph = h.fake.called("chat.postEphemeral")[-1]
        assert eph["user"] == "UBOB" and "Only hr reviewers or admins" in eph["text"]
        assert not folder.exists()
        # the reviewer clicks: one masked page, the card says so, the button is gone
        await h.interact(_card_click(h, "kb_save", "UREV", card.ts, value))
        await h.idle()
        page = (folder / "case-1.md").read_text(encoding="utf-8")
        assert "Volunteer leave is 3 paid days a year" in page and 'reviewer: "UREV"' in page
        assert "hanako.sato@example.com" not in page and "090-1234-5678" not in page
        resolved = h.fake.bot_messages("CHR")[0]
        assert "Saved to the knowledge base by" in resolved.text and _actions(h) == []
        # a stale second click (the old card in another client) is refused, privately
        await h.interact(_card_click(h, "kb_save", "UADMIN", card.ts, value))
        await h.idle()
        eph = h.fake.called("chat.postEphemeral")[-1]
        assert eph["user"] == "UADMIN" and "already saved" in eph["text"]
        # the next asker in #CGEN is answered from the page, which is cited
        await h.mention(NEXT, ts="1700000000.002200", user="UCAROL")
        await h.idle()
        reply = [m.text for m in h.fake.bot_messages("CGEN", "1700000000.002200")][-1]
        assert "Sources:" in reply and "(reviewed/case-1.md)" in reply
        assert json.dumps(h.app.store.kb_saved(1)["user"]) == '"UREV"'  # type: ignore[index]
