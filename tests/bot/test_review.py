"""bot/review.py: the card's and the refusal's buttons are labelled from templates/bot in ja and en."""

from __future__ import annotations

from bot.replies import Replies
from bot.review import CARD_BUTTONS, appeal_button, card_buttons


def test_appeal_button_in_the_askers_language() -> None:
    render = Replies().render
    assert appeal_button(render, "en", 7).label == "Ask for human review"
    assert appeal_button(render, "ja", 7).label == "人による確認を依頼"
    assert appeal_button(render, "ja", 7).value == "7" and appeal_button(render, "ja", 7).action == "appeal"


def test_card_buttons_keep_their_labels_in_both_languages() -> None:
    render = Replies().render
    for lang in ("en", "ja"):
        buttons = card_buttons(render, lang, 3)
        assert [(b.action, b.label, b.style, b.value) for b in buttons] == [
            ("approve", "Approve", "primary", "3"),
            ("decline", "Decline", "danger", "3"),
            ("answer", "Answer", "default", "3"),
        ]
    assert len(CARD_BUTTONS) == 3
    for kind, label in (("escalate", "escalation"), ("appeal", "appeal"), ("runtime_error", "runtime error")):
        assert render(f"card_kind_{kind}", "ja") == render(f"card_kind_{kind}", "en") == label
