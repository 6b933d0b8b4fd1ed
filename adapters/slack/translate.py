"""Pure translation between Slack payloads (Events API, interactivity, slash commands, Web API
answers) and bot.events values, plus Block Kit builders. No I/O; no Slack dict leaves this module.

Dedupe key of a message is its identity `channel:ts`, not Slack's event_id: the app_mention and
the message event of one message, and every retry of either, all map to the same event.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot import commands
from bot.events import ACTION_NAMES, ActionEvent, Button, Dialog, Message
from runtime.base import Turn

PLATFORM = "slack"
MESSAGE_LIMIT = 3500  # characters per posted message (Slack truncates long texts; sections take 3000)
SECTION_LIMIT = 3000
EPHEMERAL_LIMIT = 2800
MAX_TEXT = 20_000
ACTION_PREFIX = "so8t_"
MODAL_CALLBACK = "so8t_resolve"
MODAL_BLOCK = "so8t_text"
MODAL_INPUT = "text"
CARD_BLOCK = "so8t_buttons"
SLASH_PREFIX = "slash:"
# message subtypes that are still a person writing (everything else: edits, joins, bots ... is ignored)
_USER_SUBTYPES = (None, "file_share", "thread_broadcast")
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


class PayloadError(ValueError):
    """A payload this app cannot use (logged at debug, answered with one line where a person waits)."""


@dataclass(frozen=True)
class Inbound:
    message: Message
    addressed: bool  # a mention or a DM: answer even outside the bot's threads
    in_thread: bool  # posted in a thread (thread_ts set): a follow-up when the bot is part of it


@dataclass(frozen=True)
class SlashThread:
    user: str
    command: str
    trigger: str


def _str(d: dict[str, Any], key: str) -> str:
    value = d.get(key)
    return value if isinstance(value, str) else ""


def clean_text(text: str) -> str:
    """Slack's escaping undone (&lt; &gt; &amp;), control characters dropped, line ends normalized."""
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))


def escape(text: str) -> str:
    """Text for Slack mrkdwn: user text can never ping (<!channel>, <@U..>) or inject links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention_ids(text: str, users: Iterable[str] = (), channels: Iterable[str] = ()) -> str:
    """The first line's raw ids of these users and channels as Slack mentions: `<@U…>` and `<#C…>` show
    names; a DM (`D…`) shows as "DM". `text` is mrkdwn already escaped (see `mrkdwn`), so the mentions
    added here are the only ones in it; posted without link_names, nothing else turns into a mention.

    Only the first line (a card's header, a reminder, "REVIEWER answered:"): the rest may quote the
    asker's text, whose ids are not ours to turn into mentions."""
    first, sep, rest = text.partition("\n")
    for cid in {c for c in channels if _CHANNEL_ID.fullmatch(c)}:
        shown = "DM" if cid.startswith("D") else f"<#{cid}>"
        first = re.sub(rf"(?<![<@#&|A-Za-z0-9_])#?{cid}(?![A-Za-z0-9_>|])", shown, first)
    for uid in {u for u in users if _USER_ID.fullmatch(u)}:
        first = re.sub(rf"(?<![<@#&|A-Za-z0-9_]){uid}(?![A-Za-z0-9_>|])", f"<@{uid}>", first)
    return first + sep + rest


def mrkdwn(text: str, users: Iterable[str] = (), channels: Iterable[str] = ()) -> str:
    """Text to post: escaped (`escape`), then these users and channels as mentions on its first line."""
    return mention_ids(escape(text), users, channels)


def strip_mentions(text: str, bot_user_id: str) -> str:
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def message_from_event(event: dict[str, Any], bot_user_id: str) -> Inbound | None:
    """An `app_mention` or `message` event -> Inbound, or None when it is not a person writing."""
    etype = _str(event, "type")
    if etype not in ("app_mention", "message"):
        return None
    if event.get("subtype") not in _USER_SUBTYPES or event.get("bot_id") or event.get("hidden"):
        return None
    user, channel, ts = _str(event, "user"), _str(event, "channel"), _str(event, "ts")
    if not user or not channel or not ts or (bot_user_id and user == bot_user_id):
        return None
    raw = _str(event, "text")
    mentioned = bool(bot_user_id) and any(m == bot_user_id for m in _MENTION.findall(raw))
    direct = _str(event, "channel_type") == "im" or channel.startswith("D")
    thread_ts = _str(event, "thread_ts")
    text = clean_text(strip_mentions(raw, bot_user_id))[:MAX_TEXT]
    try:
        when = float(ts)
    except ValueError:
        return None
    msg = Message(PLATFORM, channel, thread_ts or ts, user, text, f"{channel}:{ts}", ts, when)
    return Inbound(msg, etype == "app_mention" or mentioned or direct, bool(thread_ts) and thread_ts != ts)


def slash_thread(user: str, command: str, trigger: str) -> str:
    return f"{SLASH_PREFIX}{user}:{command}:{trigger}"


def parse_slash_thread(thread: str) -> SlashThread | None:
    """The thread value of a slash-command reply (answered ephemerally, not in a thread)."""
    if not thread.startswith(SLASH_PREFIX):
        return None
    parts = thread[len(SLASH_PREFIX) :].split(":", 2)
    if len(parts) != 3:
        return None
    return SlashThread(*parts)


def command_from_slash(body: dict[str, Any]) -> Message:
    """`/so8t report --since 7d` -> a Message whose text the core parses as a command."""
    user, channel, trigger = _str(body, "user_id"), _str(body, "channel_id"), _str(body, "trigger_id")
    if not user or not channel or not trigger:
        raise PayloadError("slash command without user_id, channel_id or trigger_id")
    args = clean_text(_str(body, "text")).strip()[:MAX_TEXT]
    name = (args.split(maxsplit=1) or ["help"])[0].lower()[:20]
    text = f"/so8t {args}".strip()
    if not commands.is_command(text):  # e.g. a command renamed in the manifest: still /so8t for the core
        text = "/so8t"
    return Message(PLATFORM, channel, slash_thread(user, name, trigger), user, text, f"slash:{trigger}", "")


def _action_name(action_id: str) -> str | None:
    if not action_id.startswith(ACTION_PREFIX):
        return None
    name = action_id[len(ACTION_PREFIX) :]
    return name if name in ACTION_NAMES else None


def action_from_block_actions(body: dict[str, Any]) -> ActionEvent | None:
    """A click on one of our buttons (`block_actions`) -> ActionEvent; None for anything else."""
    actions = body.get("actions")
    if body.get("type") != "block_actions" or not isinstance(actions, list) or not actions:
        return None
    act = actions[0] if isinstance(actions[0], dict) else {}
    name = _action_name(_str(act, "action_id"))
    if name is None:
        return None
    user = _str(body.get("user") or {}, "id")
    channel = _str(body.get("channel") or {}, "id") or _str(body.get("container") or {}, "channel_id")
    message = body.get("message") or {}
    message_ts = _str(message, "ts") or _str(body.get("container") or {}, "message_ts")
    if not user or not channel or not message_ts:
        raise PayloadError("button click without user, channel or message")
    thread = _str(message, "thread_ts") or message_ts
    action_ts = _str(act, "action_ts") or _str(body, "trigger_id")
    return ActionEvent(
        PLATFORM,
        user,
        name,
        _str(act, "value"),
        f"act:{channel}:{message_ts}:{name}:{action_ts}",
        channel,
        thread,
        message_ts,
        "",
        _ts(action_ts),
    )


def _ts(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


def resolve_modal(ev: ActionEvent, dialog: Dialog) -> dict[str, Any]:
    """The modal a reviewer types an answer (required) or a decline reason (optional) into, with the texts of
    `dialog` (in the case's language)."""
    meta = {"action": ev.action, "value": ev.value, "channel": ev.channel, "message": ev.message_id}
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "private_metadata": json.dumps(meta),
        "title": {"type": "plain_text", "text": dialog.title[:24]},
        "submit": {"type": "plain_text", "text": dialog.submit[:24]},
        "close": {"type": "plain_text", "text": dialog.cancel[:24]},
        "blocks": [
            {
                "type": "input",
                "block_id": MODAL_BLOCK,
                "optional": ev.action != "answer",
                "label": {"type": "plain_text", "text": dialog.label[:2000]},
                "element": {
                    "type": "plain_text_input",
                    "action_id": MODAL_INPUT,
                    "multiline": True,
                    "max_length": SECTION_LIMIT,
                },
            }
        ],
    }


def action_from_view_submission(body: dict[str, Any]) -> ActionEvent:
    view = body.get("view") or {}
    if _str(view, "callback_id") != MODAL_CALLBACK:
        raise PayloadError("not our modal")
    try:
        meta = json.loads(_str(view, "private_metadata") or "{}")
    except json.JSONDecodeError:
        raise PayloadError("modal metadata is not JSON") from None
    name = meta.get("action") if isinstance(meta, dict) else None
    if name not in ACTION_NAMES:
        raise PayloadError("modal without a known action")
    values = ((view.get("state") or {}).get("values") or {}).get(MODAL_BLOCK) or {}
    text = _str(values.get(MODAL_INPUT) or {}, "value")
    user = _str(body.get("user") or {}, "id")
    if not user:
        raise PayloadError("modal submission without a user")
    message = str(meta.get("message") or "")
    return ActionEvent(
        PLATFORM,
        user,
        str(name),
        str(meta.get("value") or ""),
        f"view:{_str(view, 'id')}:{_str(view, 'hash')}",
        str(meta.get("channel") or ""),
        message,
        message,
        clean_text(text).strip()[:MAX_TEXT],
        0.0,
    )


def button_element(b: Button) -> dict[str, Any]:
    el: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": b.label[:75], "emoji": True},
        "action_id": f"{ACTION_PREFIX}{b.action}",
        "value": b.value[:2000],
    }
    if b.style in ("primary", "danger"):
        el["style"] = b.style
    return el


def blocks(
    text: str, buttons: Sequence[Button], users: Iterable[str] = (), channels: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """A section with the text (`mrkdwn`: escaped, these ids as mentions) and, when there are buttons, an
    actions row."""
    body = mrkdwn(text, users, channels)
    if len(body) > SECTION_LIMIT:
        body = body[: SECTION_LIMIT - 1] + "…"
    out: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": body or " "}}]
    if buttons:
        out.append({"type": "actions", "block_id": CARD_BLOCK, "elements": [button_element(b) for b in buttons]})
    return out


def ephemeral_summary(text: str, has_file: bool) -> str:
    """What fits an ephemeral message; the whole text goes into the file when there is one."""
    if len(text) <= EPHEMERAL_LIMIT:
        return text
    cut = text[:EPHEMERAL_LIMIT].rsplit("\n", 1)[0]
    tail = "… (the full report is in the file I sent you)" if has_file else "… (cut; use --since to narrow it)"
    return f"{cut}\n{tail}"


def turns_from_replies(
    messages: Sequence[dict[str, Any]],
    before: str,
    bot_user_id: str,
    bot_id: str,
    kinds: dict[str, str],
) -> list[Turn]:
    """conversations.replies -> Turns before message `before`: people as user (commands skipped),
    the bot's answers as assistant (its notices and cards skipped; `kinds` maps ts -> kind)."""
    limit = _ts(before) if before else float("inf")
    turns: list[Turn] = []
    for m in messages:
        if not isinstance(m, dict):
            continue
        ts = _str(m, "ts")
        if not ts or _ts(ts) >= limit:
            continue
        is_bot = bool(m.get("bot_id")) and (not bot_id or m.get("bot_id") == bot_id)
        if is_bot or (bot_user_id and _str(m, "user") == bot_user_id):
            if kinds.get(ts) == "answer":
                turns.append(Turn("assistant", clean_text(_str(m, "text"))))
            continue
        if m.get("bot_id") or m.get("subtype") not in _USER_SUBTYPES:
            continue
        text = clean_text(strip_mentions(_str(m, "text"), bot_user_id))
        if text and not commands.is_command(text):
            turns.append(Turn("user", text))
    return turns


def retry_after(headers: dict[str, Any] | Any, default: float) -> float:
    """Seconds from a Retry-After header (any case); `default` when absent or unreadable."""
    value = None
    try:
        for k in headers:
            if str(k).lower() == "retry-after":
                value = headers[k]
                break
    except TypeError:
        return default
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(0.0, float(value)) if value is not None else default
    except (TypeError, ValueError):
        return default
