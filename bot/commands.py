"""`/so8t ...` commands, parsed once for every platform (adapters hand over the text as typed).

parse() never raises: bad input becomes a CommandError with one line for the user. Each command has a
`name`, the key of its handler in bot/handlers.py.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

PREFIXES = ("/so8t", "!so8t")


@dataclass(frozen=True)
class Help:
    name: ClassVar[str] = "help"


@dataclass(frozen=True)
class Status:
    name: ClassVar[str] = "status"


@dataclass(frozen=True)
class Sources:
    """What the channel's answers may cite: the knowledge folders visible here."""

    name: ClassVar[str] = "sources"


@dataclass(frozen=True)
class Report:
    name: ClassVar[str] = "report"
    since: float | None
    until: float | None
    week: str | None = None  # ISO week (2026-W47) in the reports' time zone; replaces since/until


@dataclass(frozen=True)
class Resolve:
    name: ClassVar[str] = "resolve"
    escalation_id: int
    action: str  # approve | decline | answer
    text: str


@dataclass(frozen=True)
class Appeal:
    name: ClassVar[str] = "appeal"
    decision_id: int | None  # None: the last REFUSE in this thread


@dataclass(frozen=True)
class CommandError:
    name: ClassVar[str] = "error"
    message: str  # one line, shown to the user
    key: str = "bad_command"  # template key for the localized text
    detail: str = ""


Command = Help | Status | Sources | Report | Resolve | Appeal | CommandError


def is_command(text: str) -> bool:
    t = text.lstrip()
    return any(t == p or t.startswith(p + " ") or t.startswith(p + "\n") for p in PREFIXES)


_REL = re.compile(r"^(\d+)([hdw])$")


def parse_time(value: str, now: float) -> float:
    """Seconds since the epoch from ISO date/datetime (UTC when no zone) or a relative 24h / 7d / 2w."""
    m = _REL.match(value.strip())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        delta = {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
        return now - delta.total_seconds()
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"cannot read time {value!r}: use 2024-05-01, 2024-05-01T09:00 or 7d") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def parse(text: str, now: float) -> Command:
    body = text.strip()
    for p in PREFIXES:
        if body == p or body.startswith(p):
            body = body[len(p) :].strip()
            break
    if not body:
        return Help()
    try:
        parts = shlex.split(body)
    except ValueError:
        parts = body.split()
    name, args = parts[0].lower(), parts[1:]
    if name == "help":
        return Help()
    if name == "status":
        return Status()
    if name == "sources":
        return Sources()
    if name == "report":
        since = until = None
        week: str | None = None
        i = 0
        while i < len(args):
            flag = args[i]
            if flag == "--week" and i + 1 < len(args):
                if not re.match(r"^\d{4}-[Ww]\d{1,2}$", args[i + 1]):
                    return CommandError(
                        f"cannot read week {args[i + 1]!r}: use an ISO week like 2026-W47", "bad_time", args[i + 1]
                    )
                week = args[i + 1].upper()
                i += 2
                continue
            if flag in ("--since", "--until") and i + 1 < len(args):
                try:
                    value = parse_time(args[i + 1], now)
                except ValueError as exc:
                    return CommandError(str(exc), "bad_time", args[i + 1])
                if flag == "--since":
                    since = value
                else:
                    until = value
                i += 2
                continue
            return CommandError(
                f"unknown report option {flag!r}: use --week, or --since and --until", "bad_option", flag
            )
        return Report(since, until, week)
    if name == "resolve":
        if len(args) < 2:
            return CommandError("usage: /so8t resolve ID approve|decline|answer [text]", "usage_resolve")
        raw_id = args[0].lstrip("#")
        if not raw_id.isdigit():
            return CommandError(f"escalation id must be a number, got {args[0]!r}", "bad_id", args[0])
        action = args[1].lower()
        if action not in ("approve", "decline", "answer"):
            return CommandError(
                f"unknown action {args[1]!r}: use approve, decline or answer", "bad_action", args[1]
            )
        # keep the reviewer's text as typed (not shlex-split)
        text = re.split(r"\s+", body, maxsplit=3)[3] if len(re.split(r"\s+", body, maxsplit=3)) > 3 else ""
        if action == "answer" and not text.strip():
            return CommandError("an answer needs text: /so8t resolve ID answer YOUR ANSWER", "usage_answer")
        return Resolve(int(raw_id), action, text.strip())
    if name == "appeal":
        if not args:
            return Appeal(None)
        raw = args[0].lstrip("#")
        if not raw.isdigit():
            return CommandError(f"decision id must be a number, got {args[0]!r}", "bad_id", args[0])
        return Appeal(int(raw))
    return CommandError(f"unknown command {name!r}: try /so8t help", "unknown_command", name[:40])
