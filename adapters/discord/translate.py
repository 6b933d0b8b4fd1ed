"""Pure translation between Discord gateway/REST payload dicts (MESSAGE_CREATE, INTERACTION_CREATE,
channel history) and bot.events values. No I/O; no Discord dict leaves this module.

Thread model: a thread started from a message has the message's id, so a message's `thread` is its
own id (a new conversation) or, inside a thread channel, that channel's id.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot import commands
from bot.events import ActionEvent, Message
from runtime.base import Turn

PLATFORM = "discord"
MESSAGE_LIMIT = 2000
MAX_TEXT = 20_000
CUSTOM_ID = re.compile(r"^so8t:(?P<action>approve|decline|answer|appeal|kb_save):(?P<value>\d{1,20})$")
MODAL_ID = re.compile(r"^so8t-modal:(?P<action>approve|decline|answer|appeal):(?P<value>\d{1,20})$")
MODAL_INPUT = "so8t-text"
SLASH_PREFIX = "slash:"
_USER_MESSAGE_TYPES = (0, 19)  # DEFAULT, REPLY
_COMPONENT, _MODAL_SUBMIT, _APP_COMMAND = 3, 5, 2
_DISCORD_EPOCH_MS = 1420070400000


class PayloadError(ValueError):
    """A payload this bot cannot use; the adapter logs it (debug) or answers one line."""


@dataclass(frozen=True)
class Inbound:
    message: Message
    addressed: bool  # a mention or a DM
    direct: bool  # a DM (no guild): reply as a reply, no threads


@dataclass(frozen=True)
class SlashThread:
    user: str
    command: str
    interaction: str


def _str(d: Any, key: str) -> str:
    value = d.get(key) if isinstance(d, dict) else None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


def clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))


def strip_mentions(text: str, bot_id: str) -> str:
    if bot_id:
        text = re.sub(rf"<@!?{re.escape(bot_id)}>", " ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def snowflake_time(snowflake: str) -> float:
    try:
        return ((int(snowflake) >> 22) + _DISCORD_EPOCH_MS) / 1000.0
    except ValueError:
        return 0.0


def custom_id(action: str, value: str) -> str:
    return f"so8t:{action}:{value}"


def modal_id(action: str, value: str) -> str:
    return f"so8t-modal:{action}:{value}"


def message_from_payload(d: dict[str, Any], bot_id: str, in_thread: bool = False) -> Inbound | None:
    """MESSAGE_CREATE data -> Inbound; None for bots, system messages and the bot itself.

    `in_thread`: the channel is a thread (the adapter knows from its cache; the payload does not say).
    """
    author = d.get("author") or {}
    if not isinstance(author, dict) or author.get("bot") or author.get("system"):
        return None
    user, channel, mid = _str(author, "id"), _str(d, "channel_id"), _str(d, "id")
    if not user or not channel or not mid or user == bot_id:
        return None
    if d.get("type", 0) not in _USER_MESSAGE_TYPES or d.get("webhook_id"):
        return None
    raw = _str(d, "content")
    mentions = d.get("mentions") or []
    mentioned = bool(bot_id) and (
        any(isinstance(m, dict) and _str(m, "id") == bot_id for m in mentions)
        or re.search(rf"<@!?{re.escape(bot_id)}>", raw) is not None
    )
    direct = not d.get("guild_id")
    text = clean_text(strip_mentions(raw, bot_id))[:MAX_TEXT]
    thread = channel if in_thread else mid
    msg = Message(PLATFORM, channel, thread, user, text, mid, mid, snowflake_time(mid))
    return Inbound(msg, mentioned or direct, direct)


def interaction_user(d: dict[str, Any]) -> str:
    member = d.get("member")
    user = member.get("user") if isinstance(member, dict) else d.get("user")
    uid = _str(user or {}, "id")
    if not uid:
        raise PayloadError("interaction without a user")
    return uid


def member_roles(d: dict[str, Any]) -> tuple[str, ...]:
    """Role ids of the member who interacted (empty in DMs)."""
    member = d.get("member")
    roles = member.get("roles") if isinstance(member, dict) else None
    return tuple(str(r) for r in roles) if isinstance(roles, list) else ()


def _action(ev_id: str, d: dict[str, Any], name: str, value: str, text: str) -> ActionEvent:
    message = d.get("message") or {}
    message_id = _str(message, "id")
    channel = _str(d, "channel_id") or _str(message, "channel_id")
    return ActionEvent(
        PLATFORM,
        interaction_user(d),
        name,
        value,
        ev_id,
        channel,
        message_id,
        message_id,
        text,
        snowflake_time(_str(d, "id")),
    )


def action_from_interaction(d: dict[str, Any]) -> ActionEvent | None:
    """INTERACTION_CREATE of a button click (type 3) or our modal's submit (type 5) -> ActionEvent."""
    kind = d.get("type")
    data = d.get("data") or {}
    iid = _str(d, "id")
    if not iid:
        raise PayloadError("interaction without an id")
    if kind == _COMPONENT:
        m = CUSTOM_ID.match(_str(data, "custom_id"))
        if m is None:
            return None
        return _action(f"i:{iid}", d, m["action"], m["value"], "")
    if kind == _MODAL_SUBMIT:
        m = MODAL_ID.match(_str(data, "custom_id"))
        if m is None:
            return None
        return _action(f"i:{iid}", d, m["action"], m["value"], modal_text(data))
    return None


def modal_text(data: dict[str, Any]) -> str:
    """The text input's value from a modal submit's (nested) components."""
    stack: list[Any] = list(data.get("components") or [])
    while stack:
        c = stack.pop(0)
        if not isinstance(c, dict):
            continue
        if _str(c, "custom_id") == MODAL_INPUT:
            return clean_text(_str(c, "value")).strip()[:MAX_TEXT]
        stack.extend(c.get("components") or [])
        if isinstance(c.get("component"), dict):
            stack.append(c["component"])
    return ""


def slash_thread(user: str, command: str, interaction: str) -> str:
    return f"{SLASH_PREFIX}{user}:{command}:{interaction}"


def parse_slash_thread(thread: str) -> SlashThread | None:
    if not thread.startswith(SLASH_PREFIX):
        return None
    parts = thread[len(SLASH_PREFIX) :].split(":", 2)
    return SlashThread(*parts) if len(parts) == 3 else None


def _options(opts: Any) -> dict[str, Any]:
    return {_str(o, "name"): o.get("value") for o in opts or [] if isinstance(o, dict)}


def command_from_interaction(d: dict[str, Any]) -> Message | None:
    """INTERACTION_CREATE of `/so8t <sub> ...` (type 2) -> a Message with the command text the core parses."""
    if d.get("type") != _APP_COMMAND:
        return None
    data = d.get("data") or {}
    if _str(data, "name") != "so8t":
        return None
    subs = [o for o in data.get("options") or [] if isinstance(o, dict)]
    if not subs:
        raise PayloadError("/so8t without a subcommand")
    sub = _str(subs[0], "name")
    opts = _options(subs[0].get("options"))
    if sub in ("help", "status"):
        text = f"/so8t {sub}"
    elif sub == "report":
        text = "/so8t report" + "".join(
            f" --{flag} {str(opts[flag]).split()[0]}" for flag in ("since", "until") if opts.get(flag)
        )
    elif sub == "resolve":
        reason = clean_text(str(opts.get("text") or "")).strip()[:MAX_TEXT]
        text = f"/so8t resolve {opts.get('case')} {opts.get('action')} {reason}".strip()
    elif sub == "appeal":
        text = "/so8t appeal" + (f" {opts['decision']}" if opts.get("decision") else "")
    else:
        text = f"/so8t {sub}"
    if not commands.is_command(text):
        raise PayloadError("not a /so8t command")
    user, iid = interaction_user(d), _str(d, "id")
    channel = _str(d, "channel_id") or _str(d.get("channel") or {}, "id")
    return Message(
        PLATFORM,
        channel,
        slash_thread(user, sub, iid),
        user,
        text,
        f"i:{iid}",
        "",
        snowflake_time(iid),
        roles=member_roles(d),
    )


def turns_from_history(
    messages: Sequence[dict[str, Any]], before: str, bot_id: str, kinds: dict[str, str]
) -> list[Turn]:
    """GET /channels/{id}/messages (newest first) -> Turns oldest first, before message `before`:
    people as user (commands skipped), the bot's answers as assistant (`kinds`: message id -> kind)."""
    limit = int(before) if before.isdigit() else None
    turns: list[Turn] = []
    for m in sorted(
        (m for m in messages if isinstance(m, dict) and _str(m, "id").isdigit()), key=lambda m: int(m["id"])
    ):
        mid = int(m["id"])
        if limit is not None and mid >= limit:
            continue
        author = m.get("author") or {}
        if _str(author, "id") == bot_id:
            if kinds.get(str(mid)) == "answer":
                turns.append(Turn("assistant", clean_text(_str(m, "content"))))
            continue
        if isinstance(author, dict) and author.get("bot"):
            continue
        text = clean_text(strip_mentions(_str(m, "content"), bot_id))
        if text and not commands.is_command(text):
            turns.append(Turn("user", text))
    return turns


def thread_name(text: str) -> str:
    """A thread title from the question (1-100 characters, one line)."""
    line = " ".join(text.split())[:80]
    return line or "SO8T"


def case_thread_name(case: int, domain: str, lang: str) -> str:
    """A neutral title for the asker's thread of an escalated request: the case and its domain, never
    the request's text (it may hold private details; a thread's title shows in the channel's list)."""
    label = domain.upper() if len(domain) <= 3 else domain.capitalize()
    name = f"SO8T 案件 #{case} — {label} の確認" if lang == "ja" else f"SO8T case #{case} — {label} review"
    return name[:100]


def mention_ids(text: str, users: Iterable[str] = (), channels: Iterable[str] = (), dms: Iterable[str] = ()) -> str:
    """The first line's raw ids of these users and channels as Discord mentions: `<@id>` and `<#id>` show
    names (send with allowed_mentions none: nobody is pinged); a DM channel (`dms`) shows as "DM".

    Only the first line (a card's header, a reminder, "REVIEWER answered:"): the rest may quote the
    asker's text, whose digits are not ours to turn into mentions."""
    first, sep, rest = text.partition("\n")
    direct = set(dms)
    for cid in {c for c in channels if c.isdigit()}:
        shown = "DM" if cid in direct else f"<#{cid}>"
        first = re.sub(rf"(?<![<@#&\d])#?{cid}(?![\d>])", shown, first)
    for uid in {u for u in users if u.isdigit()}:
        first = re.sub(rf"(?<![<@#&!\d]){uid}(?![\d>])", f"<@{uid}>", first)
    return first + sep + rest
