"""Command handlers: one function per `/so8t` command, registered by the command's name.

`run_command` parses the text (bot/commands.py), looks the handler up in `HANDLERS` by the command's
`name` and replies with what it returns; a new command is a dataclass in bot/commands.py and one
`@handler("name")` function here. Replies come from templates/bot in the asker's language.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import commands
from bot.errors import StoreError
from bot.events import Escalation, Message
from bot.ports import Adapter
from bot.reports import (
    build_report,
    render_markdown,
    report_cli_args,
    report_filename,
    report_query,
    summary_facts,
    week_range,
)
from runtime.hazards import hazard_label
from runtime.lang import detect_lang

if TYPE_CHECKING:
    from bot.core import Bot

log = logging.getLogger("so8t.bot")


@dataclass(frozen=True)
class CommandCall:
    """One command being answered: who asked where, in which language, and the reply's idempotency key."""

    bot: Bot
    adapter: Adapter
    msg: Message
    lang: str
    key: str


@dataclass(frozen=True)
class Outcome:
    """What a handler leaves to post: a reply (None: the handler replied itself) and a case to post."""

    text: str | None
    followup: Escalation | None = None


Handler = Callable[[CommandCall, Any], Awaitable[Outcome]]
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of the command called `name`."""

    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


async def run_command(bot: Bot, msg: Message) -> None:
    """Answer one stored command event and finish it (or leave it pending on an unexpected failure)."""
    adapter = bot.adapters[msg.platform]
    cmd = commands.parse(msg.text, bot.clock())
    call = CommandCall(bot, adapter, msg, detect_lang(msg.text), f"cmd:{msg.event_id}")
    try:
        outcome = await HANDLERS[cmd.name](call, cmd)
        if outcome.text is not None:  # None: the handler replied itself (the report's summary and file)
            await adapter.reply(msg.channel, msg.thread, outcome.text, key=call.key, kind="command")
        if outcome.followup is not None:
            await bot.review.post_resolution(outcome.followup)
    except StoreError as exc:
        log.error("command %s failed: %s", msg.event_id, exc)
        bot.metrics.errors.inc("store")
        with contextlib.suppress(Exception):
            await adapter.reply(
                msg.channel, msg.thread, bot.replies.render("store_error", call.lang), key=call.key, kind="command"
            )
        bot.finish(msg.platform, msg.event_id, "failed")
        return
    except Exception:  # noqa: BLE001 - left pending, finished on restart
        log.exception("command %s failed", msg.event_id)
        bot.metrics.errors.inc("command")
        bot.abandon(msg.platform, msg.event_id)
        return
    bot.finish(msg.platform, msg.event_id, "done")


@handler("help")
async def _help(call: CommandCall, cmd: commands.Help) -> Outcome:
    return Outcome(call.bot.replies.render("help", call.lang))


@handler("status")
async def _status(call: CommandCall, cmd: commands.Status) -> Outcome:
    return Outcome(call.bot.replies.render("status", call.lang, **call.bot.status()))


@handler("sources")
async def _sources(call: CommandCall, cmd: commands.Sources) -> Outcome:
    folders = await visible_sources(call.bot, call.msg.channel)
    return Outcome(call.bot.replies.render("sources", call.lang, folders=folders))


@handler("report")
async def _report(call: CommandCall, cmd: commands.Report) -> Outcome:
    bot, msg = call.bot, call.msg
    if not bot.settings.roles.is_admin(msg.platform, msg.user, msg.roles):
        return Outcome(bot.replies.render("not_admin", call.lang, command="report"))
    return Outcome(await reply_report(call, cmd))


@handler("resolve")
async def _resolve(call: CommandCall, cmd: commands.Resolve) -> Outcome:
    msg = call.msg
    result = await call.bot.review.resolve(
        msg.platform, msg.user, cmd.escalation_id, cmd.action, cmd.text, msg.event_id, msg.roles
    )
    return Outcome(result.message, result.extra.pop("followup", None))


@handler("appeal")
async def _appeal(call: CommandCall, cmd: commands.Appeal) -> Outcome:
    msg = call.msg
    result = await call.bot.review.appeal(
        msg.platform, msg.user, msg.channel, msg.thread, cmd.decision_id, msg.event_id
    )
    return Outcome(result.message)


@handler("error")
async def _error(call: CommandCall, cmd: commands.CommandError) -> Outcome:
    return Outcome(
        call.bot.replies.render("command_error", call.lang, message=cmd.message, key=cmd.key, detail=cmd.detail)
    )


async def visible_sources(bot: Bot, channel: str) -> list[dict[str, Any]]:
    """The knowledge folders this channel's answers may cite, with what the index holds of each."""
    from kb import stats as kb_stats

    visible = [f for f in bot.knowledge if f.visible_in(channel)]
    try:
        indexed = await asyncio.to_thread(kb_stats, bot.store.path)
    except Exception:  # noqa: BLE001 - the list of folders still answers the question
        indexed = {"folders": []}
    counts = {str(f.get(k)): f for f in indexed.get("folders", []) for k in ("path", "key")}
    out = []
    for f in visible:
        entry = counts.get(f.path, {})
        out.append(
            {
                "name": Path(f.path).name,
                "documents": entry.get("documents", 0),
                "restricted": bool(f.channels),
            }
        )
    return out


async def reply_report(call: CommandCall, cmd: commands.Report) -> str | None:
    """A short summary in the asker's language (period, requests per verdict, open cases with the
    oldest's age, top categories) with the full Markdown report as a file where the adapter can send
    one (`reply_file`), else with a link to the console's report page (or the `so8t report` command
    when no console is served). Returns a text to reply instead (a week that cannot be read), or None."""
    bot, adapter, msg, lang, key = call.bot, call.adapter, call.msg, call.lang, call.key
    since, until, label = cmd.since, cmd.until, ""
    if cmd.week:
        try:
            since, until = week_range(cmd.week, bot.report_timezone)
        except ValueError as exc:
            return str(exc)
        label = cmd.week
    report = build_report(bot.store, since, until, now=bot.clock(), label=label, versions=bot.versions())
    facts = summary_facts(report, bot.report_timezone, lang, hazard_label)
    summary = bot.replies.render("report_summary", lang, **facts)
    send_file = getattr(adapter, "reply_file", None)
    if send_file is not None:
        filename = report_filename(report)
        try:
            await send_file(
                msg.channel, msg.thread, summary, filename, render_markdown(report).encode(), key=key, lang=lang
            )
            return None
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - no file (a scope, a permission): the link instead
            log.warning("report file not sent on %s (%s); replying with a link", msg.platform, type(exc).__name__)
            bot.metrics.errors.inc("report_file")
    if bot.console_url:
        base, query = bot.console_url.rstrip("/"), report_query(report)
        link = bot.replies.render(
            "report_link", lang, page=f"{base}/report?{query}", download=f"{base}/report.md?{query}", cli=""
        )
    else:
        link = bot.replies.render("report_link", lang, page="", download="", cli=report_cli_args(report))
    await adapter.reply(msg.channel, msg.thread, f"{summary}\n{link}", key=key, kind="command")
    return None
