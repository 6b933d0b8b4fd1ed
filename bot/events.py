"""Frozen values that cross the adapter/core boundary: what came in and what goes out.

No platform dict travels past an adapter's translate.py; these are all the core sees.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# kb_save: a reviewer saves the answer of a resolved case to the knowledge base (bot/review.py)
ActionName = Literal["approve", "decline", "answer", "appeal", "kb_save"]
ACTION_NAMES: tuple[str, ...] = ("approve", "decline", "answer", "appeal", "kb_save")


@dataclass(frozen=True)
class Button:
    """A button under a bot message; `value` is what the core gets back (an escalation or decision id)."""

    action: str
    label: str
    value: str
    style: Literal["primary", "danger", "default"] = "default"
    hint: str = ""  # what to type for a button that takes text (Decline: a reason, Answer: the answer)


@dataclass(frozen=True)
class Dialog:
    """The Answer / Decline dialog a platform opens for a card's button, in the case's language."""

    title: str
    label: str
    submit: str
    cancel: str


def buttons_to_json(buttons: Sequence[Button]) -> str:
    """The one encoding of a message's buttons where adapters keep them (the console's messages, the
    Slack and Discord ledgers): a JSON list of {action, label, value, style} (and hint, when there is one)."""
    return json.dumps([_button_dict(b) for b in buttons])


def _button_dict(b: Button) -> dict[str, str]:
    d = {"action": b.action, "label": b.label, "value": b.value, "style": b.style}
    if b.hint:
        d["hint"] = b.hint
    return d


def buttons_from_json(raw: str | None) -> tuple[Button, ...]:
    """Buttons back from `buttons_to_json`; also reads the older [action, label, value, style] rows the
    Slack and Discord ledgers wrote. Empty or unreadable text gives no buttons."""
    try:
        items = json.loads(raw or "[]")
    except json.JSONDecodeError:
        return ()
    out = []
    for item in items:
        hint = ""
        if isinstance(item, dict):
            action, label, value, style = item["action"], item["label"], item["value"], item.get("style", "default")
            hint = str(item.get("hint") or "")
        else:
            action, label, value, style = item
        out.append(Button(str(action), str(label), str(value), style, hint))
    return tuple(out)


@dataclass(frozen=True)
class Message:
    """One user message addressed to the bot (a command when it starts with /so8t)."""

    platform: str
    channel: str
    thread: str  # id of the thread root (the message's own id when it starts a thread)
    user: str
    text: str
    event_id: str  # the platform's delivery id: dedupe key together with platform
    message_id: str = ""  # the platform's id of this message (excluded from its own context)
    ts: float = 0.0
    roles: tuple[str, ...] = ()  # the platform's role ids of the user (Discord), for roles by role id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields["roles"] = tuple(fields.get("roles") or ())
        return cls(**fields)


@dataclass(frozen=True)
class ActionEvent:
    """A button click (or its command equivalent) on a bot message."""

    platform: str
    user: str
    action: str
    value: str
    event_id: str
    channel: str = ""
    thread: str = ""
    message_id: str = ""  # the message whose button was clicked
    text: str = ""  # the reviewer's text (answer / reason)
    ts: float = 0.0
    roles: tuple[str, ...] = ()  # the platform's role ids of the user (Discord), for roles by role id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionEvent:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields["roles"] = tuple(fields.get("roles") or ())
        return cls(**fields)


@dataclass(frozen=True)
class Reply:
    """Something the bot posts: `key` makes posting idempotent across restarts."""

    channel: str
    thread: str | None
    text: str
    key: str
    buttons: tuple[Button, ...] = ()
    kind: Literal["answer", "notice", "card", "command"] = "answer"


@dataclass(frozen=True)
class Escalation:
    """An open or resolved request for a human decision (from ESCALATE, an appeal, or a runtime error)."""

    id: int
    decision_id: int
    kind: Literal["escalate", "appeal", "runtime_error"]
    domain: str
    platform: str
    channel: str
    thread: str
    user: str
    text_masked: str
    lang: str
    verdict: str
    category: str
    confidence: float
    rationale: str
    status: Literal["open", "resolved"]
    opened_at: float
    deadline: float
    reminded_at: float | None = None
    card_channel: str | None = None
    card_ref: str | None = None
    resolution: Resolution | None = None


@dataclass(frozen=True)
class Resolution:
    """How a reviewer closed an escalation."""

    escalation_id: int
    action: str  # approve | decline | answer
    reviewer: str
    text: str
    at: float
    event_id: str = ""


@dataclass(frozen=True)
class ActionResult:
    """The immediate answer to a click: ok, or one clear line why not."""

    ok: bool
    message: str = ""
    status: int = 200
    extra: dict[str, Any] = field(default_factory=dict)
