"""The console adapter's I/O: an aiohttp web workspace on 127.0.0.1 (page + JSON API) and the
Adapter methods the core posts through. The HTTP answer never waits for the model."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.console import translate
from adapters.console.translate import BOT_USER, PLATFORM, BadRequest
from adapters.console.workspace import Workspace
from bot import commands, reports
from bot.errors import StoreError
from bot.events import Button, buttons_from_json, buttons_to_json
from runtime.base import REVIEW_DOMAINS, Turn

if TYPE_CHECKING:
    from bot.core import Bot

log = logging.getLogger("so8t.console")
STATIC_DIR = Path(__file__).resolve().parent / "static"
NO_STORE = {"Cache-Control": "no-store"}
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"  # the report runs no script


def default_channels(extra: Sequence[str] = ()) -> tuple[str, ...]:
    names = ["general", *(f"{d}-review" for d in REVIEW_DOMAINS)]
    names += [c for c in extra if c not in names]
    return tuple(names)


class ConsoleAdapter:
    """Implements bot.ports.Adapter for the local console."""

    def __init__(self, workspace: Workspace, channels: tuple[str, ...], clock: Callable[[], float] = time.time) -> None:
        self.workspace = workspace
        self.channels = channels
        self.clock = clock
        self.bot: Bot | None = None

    # ---------------------------------------------------------------- Adapter protocol
    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def connected(self) -> bool:
        return self.bot is not None

    async def reply(
        self,
        channel: str,
        thread: str,
        text: str,
        key: str,
        buttons: Sequence[Button] = (),
        kind: str = "answer",
    ) -> str:
        row, _ = self.workspace.add(
            channel, thread, BOT_USER, text, key, buttons_to_json(buttons), kind
        )
        return str(row["id"])

    async def post(self, channel: str, text: str, key: str, buttons: Sequence[Button] = (), kind: str = "card") -> str:
        row, _ = self.workspace.add(channel, None, BOT_USER, text, key, buttons_to_json(buttons), kind)
        return str(row["id"])

    async def post_file(self, channel: str, text: str, filename: str, content: bytes, key: str) -> str:
        """The console has no file store: the summary plus the file's name (it lies under reports.dir)."""
        row, _ = self.workspace.add(
            channel, None, BOT_USER, f"{text}\nFile: {filename} ({len(content)} bytes)", key, "[]", "notice"
        )
        return str(row["id"])

    async def update(self, channel: str, ref: str, text: str, buttons: Sequence[Button] | None = None) -> None:
        self.workspace.update(ref, text, None if buttons is None else buttons_to_json(buttons))

    async def thread_context(self, channel: str, thread: str, before: str, limit: int) -> list[Turn]:
        turns: list[Turn] = []
        for row in self.workspace.thread_rows(channel, thread, before):
            kind = row.get("kind") or "message"
            if row["user"] == BOT_USER and kind == "answer":
                turns.append(Turn("assistant", row["text"]))
            elif row["user"] != BOT_USER and not commands.is_command(row["text"]):
                turns.append(Turn("user", row["text"]))
        return turns[-limit:] if limit else []

    # ---------------------------------------------------------------- HTTP
    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.page),
            web.get("/static/{name}", self.static),
            web.get("/api/channels", self.api_channels),
            web.get("/api/messages", self.api_list),
            web.post("/api/messages", self.api_post),
            web.post("/api/actions", self.api_action),
            web.get("/report", self.report_page),
            web.get("/report.md", self.report_file),
        ]

    async def page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers=NO_STORE)

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ("app.js", "markdown.js", "app.css"):
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC_DIR / name, headers=NO_STORE)

    async def report_page(self, request: web.Request) -> web.Response:
        """The report as HTML with its charts (?week=2026-W47, or ?since=&until=): where `/so8t report`
        links when no file can be sent. Built from the store when asked; no script runs in it."""
        return self._report(request, "html")

    async def report_file(self, request: web.Request) -> web.Response:
        """The same report as a Markdown file to download (the console's file for `/so8t report`)."""
        return self._report(request, "md")

    def _report(self, request: web.Request, fmt: str) -> web.Response:
        assert self.bot is not None
        bot = self.bot
        try:
            since, until, label = reports.parse_report_query(request.query, self.clock(), bot.report_timezone)
        except ValueError as exc:
            return web.Response(text=f"{exc}\n", status=400, headers=NO_STORE)
        try:
            now = self.clock()
            report = reports.build_report(bot.store, since, until, now=now, label=label, versions=bot.versions())
        except StoreError as exc:
            log.error("report not built: %s", exc)
            return web.Response(text="the bot's store is unavailable; try again shortly\n", status=503)
        if fmt == "html":
            return web.Response(
                text=reports.render_html(report),
                content_type="text/html",
                headers={**NO_STORE, "Content-Security-Policy": REPORT_CSP},
            )
        name = reports.report_filename(report)
        return web.Response(
            text=reports.render_markdown(report),
            content_type="text/markdown",
            headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def api_channels(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "channels": list(self.channels),
                "bot": BOT_USER,
                "users": {"admin": "admin", "reviewer": "reviewer of every domain"},
                "timezone": self.bot.timezone if self.bot else "UTC",
                "open_cases": self.open_cases(),
            }
        )

    def open_cases(self) -> dict[str, int]:
        """Open escalations per console review channel (the channels' badges); 0 for every other channel."""
        counts = dict.fromkeys(self.channels, 0)
        if self.bot is None:
            return counts
        for esc in self.bot.store.open_escalations():
            if esc.platform != PLATFORM:
                continue
            channel = esc.card_channel or self.bot.settings.escalation.channel_for(PLATFORM, esc.domain)
            if channel in counts:
                counts[channel] += 1
        return counts

    async def api_list(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel", "")
        if channel not in self.channels:
            return _error(f"unknown channel {channel[:40]!r} (channels: {', '.join(self.channels)})", 404)
        after = request.query.get("after", "0")
        rows = self.workspace.messages(
            channel, request.query.get("thread") or None, int(after) if after.isdigit() else 0
        )
        return web.json_response([translate.message_to_api(r) for r in rows])

    async def api_post(self, request: web.Request) -> web.Response:
        try:
            req = translate.message_request(translate.parse_body(await request.read()), self.channels)
            if req.thread is not None:
                root = self.workspace.get(req.thread)
                if root is None or root["channel"] != req.channel:
                    raise BadRequest(f"unknown thread {req.thread[:40]!r} in channel {req.channel!r}", 404)
                req = translate.MessageRequest(req.channel, req.user, req.text, root["thread"], req.event_id)
        except BadRequest as exc:
            return _error(str(exc), exc.status)
        assert self.bot is not None
        key = f"in:{req.event_id}" if req.event_id else None
        try:
            row, _created = self.workspace.add(req.channel, req.thread, req.user, req.text, key)
            event_id = req.event_id or f"msg-{row['id']}"
            msg = translate.to_message(req, row["id"], row["thread"], event_id, row["ts"])
            status = await self.bot.receive(msg)
        except StoreError as exc:
            log.error("message not accepted: %s", exc)
            return _error("the bot's store is unavailable; try again shortly", 503)
        return web.json_response({"id": row["id"], "thread": row["thread"], "status": status})

    async def api_action(self, request: web.Request) -> web.Response:
        try:
            req = translate.action_request(translate.parse_body(await request.read()))
            row = self.workspace.get(req.message_id)
            if row is None:
                raise BadRequest(f"unknown message {req.message_id[:40]!r}", 404)
            event_id = req.event_id or f"act-{uuid.uuid4().hex[:16]}"
            ev = translate.to_action(
                req,
                buttons_from_json(row.get("actions")),
                row["channel"],
                row["thread"],
                event_id,
                self.clock(),
            )
        except BadRequest as exc:
            return _error(str(exc), exc.status)
        assert self.bot is not None
        try:
            result = await self.bot.receive_action(ev)
        except StoreError as exc:
            log.error("action not accepted: %s", exc)
            return _error("the bot's store is unavailable; try again shortly", 503)
        if not result.ok:
            return web.json_response({"ok": False, "error": result.message}, status=result.status)
        return web.json_response({"ok": True, "message": result.message, **result.extra})


def _error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)
