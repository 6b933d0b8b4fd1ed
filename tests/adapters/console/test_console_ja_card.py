"""A Japanese case's card in the case's language through the console API: its kind, buttons, the hint of the
text they take, the replies to clicks and the resolved card; an English case's card stays English."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.errors import StoreError
from bot.events import ActionEvent
from tests.support.console_helpers import Client, console_app

JA_ASK = "給与の計算が間違っています"
EN_ASK = "My salary is wrong this month"


async def cards(c: Client) -> list[dict[str, Any]]:
    return [m for m in await c.messages("hr-review") if m["kind"] == "card"]


async def test_japanese_card_buttons_hints_and_resolution_in_japanese(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        await c.say("alice", JA_ASK)
        await app.bot.wait_idle()
        card = (await cards(c))[0]
        assert card["text"].startswith("[エスカレーション] #1 · hr")
        assert "モデル判定" in card["text"] and "期限" in card["text"] and "Deadline" not in card["text"]
        assert card["actions"] == [
            {"action": "approve", "label": "承認", "style": "primary"},
            {"action": "decline", "label": "却下", "style": "danger", "hint": "理由（任意）"},
            {"action": "answer", "label": "回答", "style": "default", "hint": "依頼者への回答"},
        ]
        # clicks answered in the case's language
        click = {"message_id": card["id"], "action": "answer", "user": "reviewer", "text": ""}
        status, data = await c.post("/api/actions", click)
        assert status == 400 and data["error"].startswith("回答には本文が必要です")
        status, data = await c.post("/api/actions", {**click, "action": "approve", "user": "mallory"})
        assert status == 403 and "mallory" in data["error"] and not data["error"].isascii()
        status, data = await c.post("/api/actions", {**click, "action": "decline", "text": "規程の対象外です"})
        assert status == 200 and "却下" in data["message"]
        await app.bot.wait_idle()
        resolved = (await cards(c))[0]
        assert resolved["text"].startswith("[対応済み] #1 · hr · reviewer さんが却下しました")
        assert resolved["actions"] == []


async def test_english_card_stays_english(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        await c.say("alice", EN_ASK)
        await app.bot.wait_idle()
        card = (await cards(c))[0]
        assert card["text"].startswith("[escalation] #1 · hr") and "Deadline:" in card["text"]
        assert [(a["label"], a.get("hint", "")) for a in card["actions"]] == [
            ("Approve", ""),
            ("Decline", "Reason (optional)"),
            ("Answer", "Your answer to the asker"),
        ]
        status, data = await c.post(
            "/api/actions", {"message_id": card["id"], "action": "answer", "user": "reviewer", "text": ""}
        )
        assert status == 400 and data["error"] == "an answer needs text"


async def test_dialog_and_click_replies_without_a_case_follow_the_clickers_language(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        await c.say("alice", JA_ASK)
        await c.say("bob", EN_ASK)
        await app.bot.wait_idle()
        bot = app.bot
        ja, en = (
            bot.resolve_dialog("console", "reviewer", "answer", "1"),
            bot.resolve_dialog("console", "x", "decline", "2"),
        )
        assert (ja.title, ja.label, ja.submit, ja.cancel) == ("案件 #1 に回答", "依頼者への回答", "送信", "キャンセル")
        assert (en.title, en.label, en.submit, en.cancel) == ("Decline case #2", "Reason (optional)", "Send", "Cancel")
        # no such case: the clicker's last request decides (alice asked in Japanese, bob in English, carol never)
        assert bot.resolve_refusal("console", "alice", "99") == "案件 #99 は見つかりません。"
        assert bot.resolve_refusal("console", "bob", "99") == "There is no case #99."
        assert bot.resolve_refusal("console", "carol", "99") == "There is no case #99."
        # an unknown action on a Japanese case (only a caller other than the platforms' buttons can send one)
        bad = await bot.review.resolve("console", "reviewer", 1, "maybe", "", "ev-bad")
        assert bad.status == 400 and bad.message.startswith("操作「maybe」は使えません")
        assert (await bot.review.resolve("console", "reviewer", 2, "maybe", "", "ev-bad2")).message.startswith(
            "unknown action 'maybe'"
        )


async def test_store_failure_on_a_click_is_told_in_the_cases_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with console_app(tmp_path) as (app, c):
        await c.say("alice", JA_ASK)
        await c.say("bob", EN_ASK)
        await app.bot.wait_idle()

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise StoreError("audit store read failed (test)")

        monkeypatch.setattr(app.bot.escalations, "resolve", broken)
        result = await app.bot.receive_action(ActionEvent("console", "reviewer", "approve", "1", "ev-ja"))
        assert (
            result.status == 503
            and result.message == "監査ストアを利用できません。しばらくしてからもう一度お試しください。"
        )
        result = await app.bot.receive_action(ActionEvent("console", "reviewer", "approve", "2", "ev-en"))
        assert result.status == 503 and result.message == "the audit store is unavailable; try again shortly"
