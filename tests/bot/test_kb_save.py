"""A reviewer's Answer saved to the knowledge base with one button (console): reviewers of the domain only,
once per case, PII masked in the saved page, audited, indexed at once, and cited to the next asker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.events import ActionEvent
from tests.support.console_helpers import QUIET, Client, console_app
from tests.support.fakes import FakeRuntime, ScriptedRuntime

ASK = "My manager says: can I take leave to volunteer after the flood next month?"
NEXT = "Can I take leave to volunteer after the flood?"
WRONG = "How many days of leave can I take to volunteer after a flood?"
ANSWER = (
    "Yes. Volunteer leave is 3 paid days a year; apply in the HR portal a week before. "
    "Questions to Hanako at hanako.sato@example.com or 090-1234-5678."
)


def config(tmp_path: Path, answers: bool = True) -> dict[str, Any]:
    folder: dict[str, Any] = {"path": str(tmp_path / "reviewed"), "channels": ["general"]}
    if answers:
        folder["answers"] = True
    return {
        **QUIET,
        "console": {"default_users": False},
        "roles": {"admins": ["boss"], "reviewers": {"hr": ["hana"], "legal": ["lawyer"]}},
        "knowledge": {"folders": [folder]},
    }


async def card(c: Client, channel: str = "hr-review") -> dict[str, Any]:
    cards = [m for m in await c.messages(channel) if m["kind"] == "card"]
    assert len(cards) == 1, cards
    return cards[0]


async def answer_case(c: Client, app: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    asked = await c.say("alice", ASK)
    await app.bot.wait_idle()
    got = await card(c)
    status, data = await c.post(
        "/api/actions", {"message_id": got["id"], "action": "answer", "user": "hana", "text": ANSWER}
    )
    assert status == 200, data
    await app.bot.wait_idle()
    return asked, await card(c)


async def test_a_reviewer_saves_an_answer_and_the_next_asker_gets_it_with_a_citation(tmp_path: Path) -> None:
    rt = ScriptedRuntime(scripts={WRONG: (["You can take 5 paid days a year."], "stop")})
    async with console_app(tmp_path, config(tmp_path), runtime=rt) as (app, c):
        _asked, resolved = await answer_case(c, app)
        # the reviewer's confirmation in the reviewers' channel carries the button (ja and en labels)
        assert [a["action"] for a in resolved["actions"]] == ["kb_save"]
        assert resolved["actions"][0]["label"] == "Save to knowledge base"
        assert app.bot.replies.render("button_kb_save", "ja") == "ナレッジベースに保存"

        # not a reviewer of the domain: refused, nothing written
        for who in ("alice", "lawyer"):
            status, data = await c.post(
                "/api/actions", {"message_id": resolved["id"], "action": "kb_save", "user": who}
            )
            assert status == 403 and "Only hr reviewers or admins" in data["error"]
        assert not (tmp_path / "reviewed").exists()

        status, data = await c.post("/api/actions", {"message_id": resolved["id"], "action": "kb_save", "user": "hana"})
        assert status == 200, data
        await app.bot.wait_idle()
        page = (tmp_path / "reviewed" / "case-1.md").read_text(encoding="utf-8")
        # PII masked in the saved page; who and when and the domain are on it
        assert "hanako.sato@example.com" not in page and "090-1234-5678" not in page
        assert "Volunteer leave is 3 paid days a year" in page
        assert 'reviewer: "hana"' in page and "domain: hr" in page and "case: 1" in page
        assert "Answered by reviewer hana on " in page
        # the card says so and the button is gone: one click only
        after = await card(c)
        assert after["actions"] == [] and "Saved to the knowledge base by hana" in after["text"]
        status, data = await c.post("/api/actions", {"message_id": resolved["id"], "action": "kb_save", "user": "hana"})
        assert status == 409
        # audited: a chained kb_saved row naming the reviewer and the file, and the chain still verifies
        saved = app.store.kb_saved(1)
        assert saved is not None and saved["user"] == "hana" and saved["text_masked"].endswith("reviewed/case-1.md")
        assert app.store.verify_chain().ok
        assert 'so8t_kb_saved_total{domain="hr"} 1' in app.bot.metrics.registry.render()

        # indexed at once: the next asker (an ALLOWed question) is answered from it, with the page as its source
        nxt = await c.say("bob", NEXT)
        await app.bot.wait_idle()
        reply = (await c.bot_replies(nxt["thread"]))[0]["text"]
        assert reply.rstrip().endswith(f"[1] {ASK} — Question · Answer (reviewed/case-1.md)")
        docs = rt.documents[-1] or ""
        assert "> Yes. Volunteer leave is 3 paid days a year" in docs and "hanako.sato@example.com" not in docs
        # a model answer that misstates the page is replaced by the page's own words, cited
        wrong = await c.say("carol", WRONG)
        await app.bot.wait_idle()
        reply = (await c.bot_replies(wrong["thread"]))[0]["text"]
        assert "5 paid days" not in reply and "“Volunteer leave is 3 paid days a year; " in reply
        assert "” [1]" in reply and reply.rstrip().endswith("(reviewed/case-1.md)")


async def test_a_second_save_of_the_case_is_refused_in_the_core_too(tmp_path: Path) -> None:
    async with console_app(tmp_path, config(tmp_path), runtime=FakeRuntime()) as (app, c):
        _asked, resolved = await answer_case(c, app)

        def click(event_id: str, user: str = "hana") -> ActionEvent:
            return ActionEvent("console", user, "kb_save", "1", event_id, "hr-review", "", resolved["id"], "", 0.0)

        first = await app.bot.receive_action(click("e1"))
        assert first.ok
        again = await app.bot.receive_action(click("e2", "boss"))  # an admin, a second click: already saved
        assert not again.ok and again.status == 409 and "already saved to the knowledge base by hana" in again.message
        assert len([r for r in app.store.export() if r["kind"] == "kb_saved"]) == 1


async def test_without_a_reviewers_folder_there_is_no_button(tmp_path: Path) -> None:
    async with console_app(tmp_path, config(tmp_path, answers=False), runtime=FakeRuntime()) as (app, c):
        _asked, resolved = await answer_case(c, app)
        assert resolved["actions"] == []
        refused = await app.bot.receive_action(
            ActionEvent("console", "hana", "kb_save", "1", "e1", "hr-review", "", resolved["id"], "", 0.0)
        )
        assert not refused.ok and "No knowledge folder is configured for reviewers' answers" in refused.message


async def test_japanese_case_pages_and_labels(tmp_path: Path) -> None:
    async with console_app(tmp_path, config(tmp_path), runtime=FakeRuntime()) as (app, c):
        await c.say("taro", "上司から来月の休暇を取り消すと言われました。どうすればいいですか")
        await app.bot.wait_idle()
        got = await card(c)
        status, _ = await c.post(
            "/api/actions",
            {
                "message_id": got["id"],
                "action": "answer",
                "user": "hana",
                "text": "人事部の山田(内線1234)に相談してください。",
            },
        )
        assert status == 200
        await app.bot.wait_idle()
        resolved = await card(c)
        assert resolved["actions"][0]["label"] == "ナレッジベースに保存"
        status, data = await c.post("/api/actions", {"message_id": resolved["id"], "action": "kb_save", "user": "hana"})
        assert status == 200, data
        page = (tmp_path / "reviewed" / "case-1.md").read_text(encoding="utf-8")
        assert "## 質問" in page and "## 回答" in page and "人事の担当者 hana さんが回答しました" in page
        assert "ナレッジベースに保存しました" in (await card(c))["text"]


def test_the_reviewers_folder_is_one_knowledge_folder_flagged_answers() -> None:
    import pytest

    from bot.config import KnowledgeFolder, parse_config
    from bot.errors import ConfigError
    from kb.saved import answers_folder

    cfg = parse_config({"knowledge": {"folders": [{"path": "docs"}, {"path": "var/kb/reviewed", "answers": True}]}})
    assert answers_folder(cfg.knowledge.folders) == KnowledgeFolder("var/kb/reviewed", (), True)
    assert answers_folder(parse_config({}).knowledge.folders) is None  # the sample handbook is not writable
    with pytest.raises(ConfigError, match=r"knowledge.folders\[0\].answers' must be true or false"):
        parse_config({"knowledge": {"folders": [{"path": "a", "answers": "yes"}]}})
    with pytest.raises(ConfigError, match="only one folder can hold the reviewers' answers"):
        parse_config({"knowledge": {"folders": [{"path": "a", "answers": True}, {"path": "b", "answers": True}]}})
