"""The console's pure translation layer: platform JSON in, frozen bot.events out."""

from __future__ import annotations

import pytest

from adapters.console import translate as t
from bot.events import Button, buttons_to_json

CHANNELS = ("general", "hr-review")


def test_message_request_and_to_message() -> None:
    req = t.message_request(
        {"channel": "general", "user": "alice", "text": " hi\x00 there\r\n", "event_id": "e-1"}, CHANNELS
    )
    assert req.text == " hi there\n" and req.event_id == "e-1" and req.thread is None
    msg = t.to_message(req, "m1", "m1", "e-1", 5.0)
    assert (msg.platform, msg.channel, msg.thread, msg.user, msg.message_id) == (
        "console",
        "general",
        "m1",
        "alice",
        "m1",
    )


@pytest.mark.parametrize(
    ("body", "needle", "status"),
    [
        ({"channel": "general", "user": "alice", "text": ""}, "text is empty", 400),
        ({"channel": "general", "user": "alice", "text": "\u200b"}, "text", 400),
        ({"channel": "general", "user": "alice", "text": "a" * (t.MAX_TEXT + 1)}, "too long", 413),
        ({"channel": "x", "user": "alice", "text": "a"}, "unknown channel", 404),
        ({"channel": "general", "user": "a b", "text": "a"}, "field 'user'", 400),
        ({"channel": "general", "user": "alice", "text": "a", "event_id": "bad id!"}, "event_id", 400),
        ({"channel": ["general"], "user": "alice", "text": "a"}, "must be a string", 400),
    ],
)
def test_message_request_rejects(body: dict[str, object], needle: str, status: int) -> None:
    if body.get("text") == "\u200b":  # a format character is text, not empty: accepted
        assert t.message_request(body, CHANNELS).text == "\u200b"
        return
    with pytest.raises(t.BadRequest) as err:
        t.message_request(body, CHANNELS)
    assert needle in str(err.value) and err.value.status == status


def test_parse_body() -> None:
    assert t.parse_body(b'{"a": 1}') == {"a": 1}
    for raw, needle in [(b"\xff", "UTF-8"), (b"{", "JSON"), (b'"s"', "object")]:
        with pytest.raises(t.BadRequest, match=needle):
            t.parse_body(raw)


def test_action_translation_needs_the_button() -> None:
    req = t.action_request({"message_id": "m1", "action": "approve", "user": "reviewer"})
    buttons = (Button("approve", "Approve", "7"), Button("decline", "Decline", "7"))
    ev = t.to_action(req, buttons, "hr-review", "m1", "a1", 1.0)
    assert (ev.action, ev.value, ev.user, ev.platform) == ("approve", "7", "reviewer", "console")
    with pytest.raises(t.BadRequest, match="no 'approve' button"):
        t.to_action(req, (), "hr-review", "m1", "a1", 1.0)
    with pytest.raises(t.BadRequest, match="unknown action"):
        t.action_request({"message_id": "m1", "action": "delete", "user": "x"})


def test_buttons_api_view() -> None:
    buttons = (Button("approve", "Approve", "1", "primary"),)
    raw = buttons_to_json(buttons)
    row = {
        "id": "m",
        "channel": "general",
        "thread": "m",
        "user": "so8t",
        "text": "<b>",
        "ts": 1.0,
        "actions": raw,
        "kind": "card",
        "seq": 1,
    }
    view = t.message_to_api(row)
    assert view["actions"] == [{"action": "approve", "label": "Approve", "style": "primary"}]
    assert view["text"] == "<b>" and "value" not in view["actions"][0]


def test_json_depth_counts_brackets_outside_strings() -> None:
    assert t.json_depth('{"a": [1, {"b": 2}]}') == 3
    assert t.json_depth('{"text": "[[[[{{{{ \\" ]]]"}') == 1  # brackets and an escaped quote inside a string
    assert t.json_depth("") == 0
    with pytest.raises(t.BadRequest, match="nested deeper"):
        t.parse_body(b"[" * 17 + b"]" * 17)
    assert t.parse_body(b'{"a": [[[1]]]}') == {"a": [[[1]]]}
