"""bot/review.py: the card's and the refusal's buttons, the card kinds, the Answer / Decline dialog and the click
replies come from templates/bot in the case's language (ja or en)."""

from __future__ import annotations

from bot.replies import Replies
from bot.review import CARD_BUTTONS, appeal_button, card_buttons


def test_appeal_button_in_the_askers_language() -> None:
    render = Replies().render
    assert appeal_button(render, "en", 7).label == "Ask for human review"
    assert appeal_button(render, "ja", 7).label == "人による確認を依頼"
    assert appeal_button(render, "ja", 7).value == "7" and appeal_button(render, "ja", 7).action == "appeal"


def test_card_buttons_and_kinds_in_the_cases_language() -> None:
    render = Replies().render
    labels = {"en": ("Approve", "Decline", "Answer"), "ja": ("承認", "却下", "回答")}
    hints = {"en": ("", "Reason (optional)", "Your answer to the asker"), "ja": ("", "理由（任意）", "依頼者への回答")}
    for lang in ("en", "ja"):
        buttons = card_buttons(render, lang, 3)
        assert [(b.action, b.label, b.style, b.value, b.hint) for b in buttons] == [
            ("approve", labels[lang][0], "primary", "3", hints[lang][0]),
            ("decline", labels[lang][1], "danger", "3", hints[lang][1]),
            ("answer", labels[lang][2], "default", "3", hints[lang][2]),
        ]
    assert len(CARD_BUTTONS) == 3
    kinds = {"escalate": ("escalation", "エスカレーション"), "appeal": ("appeal", "異議申し立て")}
    kinds["runtime_error"] = ("runtime error", "実行時エラー")
    for kind, (en, ja) in kinds.items():
        assert render(f"card_kind_{kind}", "en") == en and render(f"card_kind_{kind}", "ja") == ja


def test_dialog_and_click_reply_templates_in_both_languages() -> None:
    render = Replies().render
    assert render("dialog_title", "en", action="answer", esc_id=12) == "Answer case #12"
    assert render("dialog_title", "en", action="decline", esc_id=12) == "Decline case #12"
    assert render("dialog_title", "ja", action="answer", esc_id=12) == "案件 #12 に回答"
    assert render("dialog_title", "ja", action="decline", esc_id=12) == "案件 #12 を却下"
    assert all(len(render("dialog_title", lang, action="decline", esc_id=10**9)) <= 24 for lang in ("en", "ja"))
    assert (render("dialog_submit", "ja"), render("dialog_cancel", "ja")) == ("送信", "キャンセル")
    assert (render("dialog_submit", "en"), render("dialog_cancel", "en")) == ("Send", "Cancel")
    # the English click replies are the lines they were before they moved to templates
    assert render("store_unavailable", "en") == "the audit store is unavailable; try again shortly"
    assert render("unknown_action", "en", action="maybe") == "unknown action 'maybe': use approve, decline or answer"
    assert render("answer_needs_text", "en", esc_id=1) == "an answer needs text"
    for name, ctx in (("store_unavailable", {}), ("unknown_action", {"action": "x"}), ("answer_needs_text", {})):
        text = render(name, "ja", esc_id=1, **ctx)
        assert text and text != render(name, "en", esc_id=1, **ctx) and not text.isascii()


def test_command_errors_in_japanese_by_key() -> None:
    from bot import commands

    render = Replies().render
    for typed, expected in (
        ("/so8t resolve 1 maybe", "操作「maybe」は使えません"),
        ("/so8t resolve 1 answer", "回答には本文が必要です"),
        ("/so8t resolve x approve", "番号には数字を指定してください"),
        ("/so8t resolve", "使い方: /so8t resolve"),
        ("/so8t frobnicate", "コマンド「frobnicate」はありません"),
        ("/so8t report --since yesterday", "yesterday を日時として読み取れません"),
        ("/so8t report --bogus", "report のオプション --bogus は使えません"),
    ):
        cmd = commands.parse(typed, 0.0)
        assert isinstance(cmd, commands.CommandError), typed
        ctx = {"message": cmd.message, "key": cmd.key, "detail": cmd.detail}
        assert expected in render("command_error", "ja", **ctx), typed
        assert render("command_error", "en", **ctx) == cmd.message  # English unchanged
