"""bot/pipeline.py: what of an answer may be posted (masked; a grounded answer's quote marks dropped)."""

from __future__ import annotations

from bot.pipeline import postable


def test_postable_drops_quote_marks_only_in_grounded_answers() -> None:
    text = "> Submit the form within 30 days.\nThen wait."
    assert postable(text, grounded=True) == "Submit the form within 30 days.\nThen wait."
    assert postable(text, grounded=False) == text


def test_postable_masks_personal_data() -> None:
    out = postable("Write to alice@example.com", grounded=False)
    assert "alice@example.com" not in out
