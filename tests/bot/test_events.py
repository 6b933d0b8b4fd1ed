"""bot/events.py: the one JSON encoding of buttons that every adapter stores."""

from __future__ import annotations

import json

from bot.events import Button, buttons_from_json, buttons_to_json


def test_buttons_round_trip() -> None:
    buttons = (Button("approve", "Approve", "1", "primary"), Button("answer", "Answer", "1"))
    raw = buttons_to_json(buttons)
    assert json.loads(raw)[0] == {"action": "approve", "label": "Approve", "value": "1", "style": "primary"}
    assert buttons_from_json(raw) == buttons


def test_buttons_from_older_rows_and_nothing() -> None:
    old = json.dumps([["decline", "Decline", "4", "danger"]])  # what Slack and Discord ledgers wrote before
    assert buttons_from_json(old) == (Button("decline", "Decline", "4", "danger"),)
    assert buttons_from_json(None) == () and buttons_from_json("") == () and buttons_from_json("{not json") == ()
