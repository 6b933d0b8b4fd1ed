"""Pure translation between the console's JSON API and bot.events values (no I/O).

Everything a browser or a script can send is checked here, with one clear line per problem.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from bot.events import ACTION_NAMES, ActionEvent, Button, Message, buttons_from_json

PLATFORM = "console"
BOT_USER = "so8t"
MAX_TEXT = 20_000
_USER = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")


class BadRequest(ValueError):
    """A request the client must fix; str() is the one line returned as {"error": ...}."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class MessageRequest:
    channel: str
    user: str
    text: str
    thread: str | None
    event_id: str | None


@dataclass(frozen=True)
class ActionRequest:
    message_id: str
    action: str
    user: str
    text: str
    event_id: str | None


MAX_JSON_DEPTH = 16  # the API's bodies are flat objects; deeper nesting is refused before parsing


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings not counted)."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8") from None
    if json_depth(decoded) > MAX_JSON_DEPTH:
        raise BadRequest(f"request body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(decoded)
    except (json.JSONDecodeError, RecursionError):
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def clean_text(text: str) -> str:
    """Drop control characters (keep newlines and tabs) and lone surrogates; normalize line ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        ch for ch in text if ch in "\n\t" or (unicodedata.category(ch) not in ("Cc", "Cs") and ch not in "\u2028\u2029")
    )


def _str(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"missing field '{key}'")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"field '{key}' must be a string")
    return value


def user_name(body: dict[str, Any]) -> str:
    user = (_str(body, "user") or "").strip()
    if not _USER.match(user):
        raise BadRequest("field 'user' must be 1-32 letters, digits, '_', '-' or '.'")
    if user == BOT_USER:
        raise BadRequest(f"'{BOT_USER}' is the bot's own name")
    return user


def _event_id(body: dict[str, Any]) -> str | None:
    eid = _str(body, "event_id", required=False)
    if eid is not None and not _EVENT_ID.match(eid):
        raise BadRequest("field 'event_id' must be 1-100 letters, digits or _.:-")
    return eid


def message_request(body: dict[str, Any], channels: tuple[str, ...]) -> MessageRequest:
    channel = _str(body, "channel") or ""
    if channel not in channels:
        raise BadRequest(f"unknown channel {channel[:40]!r} (channels: {', '.join(channels)})", 404)
    user = user_name(body)
    text = clean_text(_str(body, "text") or "")
    if not text.strip():
        raise BadRequest("text is empty")
    if len(text) > MAX_TEXT:
        raise BadRequest(f"text is too long ({len(text)} characters; the limit is {MAX_TEXT})", 413)
    thread = _str(body, "thread", required=False) or None
    return MessageRequest(channel, user, text, thread, _event_id(body))


def action_request(body: dict[str, Any]) -> ActionRequest:
    message_id = _str(body, "message_id") or ""
    action = _str(body, "action") or ""
    if action not in ACTION_NAMES:
        raise BadRequest(f"unknown action {action[:40]!r}: use {', '.join(ACTION_NAMES)}")
    text = clean_text(_str(body, "text", required=False) or "")
    if len(text) > MAX_TEXT:
        raise BadRequest(f"text is too long ({len(text)} characters; the limit is {MAX_TEXT})", 413)
    return ActionRequest(message_id, action, user_name(body), text.strip(), _event_id(body))


def to_message(req: MessageRequest, message_id: str, thread: str, event_id: str, ts: float) -> Message:
    return Message(PLATFORM, req.channel, thread, req.user, req.text, event_id, message_id, ts)


def to_action(
    req: ActionRequest, buttons: tuple[Button, ...], channel: str, thread: str, event_id: str, ts: float
) -> ActionEvent:
    """The click as the core sees it; the button must exist on that message."""
    for b in buttons:
        if b.action == req.action:
            return ActionEvent(
                PLATFORM,
                req.user,
                req.action,
                b.value,
                event_id,
                channel,
                thread,
                req.message_id,
                req.text,
                ts,
            )
    raise BadRequest(f"message {req.message_id[:40]!r} has no {req.action!r} button", 409)


def message_to_api(row: dict[str, Any]) -> dict[str, Any]:
    """The API's view of a stored message (contract: id, channel, thread, user, text, ts, actions; an action that
    takes text has a `hint`: what to type, in the case's language)."""
    return {
        "id": row["id"],
        "channel": row["channel"],
        "thread": row["thread"],
        "user": row["user"],
        "text": row["text"],
        "ts": row["ts"],
        "actions": [
            {"action": b.action, "label": b.label, "style": b.style, **({"hint": b.hint} if b.hint else {})}
            for b in buttons_from_json(row.get("actions"))
        ],
        "kind": row.get("kind") or "message",
        "seq": row["seq"],
    }
