"""The Slack adapter's I/O: a slack-bolt AsyncApp (Socket Mode, or HTTP at /slack/events with
signature verification) that turns payloads into bot.events, and the Adapter methods the core posts
through (threaded replies, cards with buttons, ephemeral command answers, throttled updates).

Every Web API call goes through `_call`: 429 waits Retry-After (backoff when absent) and retries, so
nothing is dropped. Secrets live in SlackSettings fields hidden from repr and never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.ledger import Ledger, Posted
from adapters.slack import translate
from adapters.slack.translate import PLATFORM, PayloadError
from adapters.textsplit import split_text
from adapters.throttle import UpdateThrottle
from bot.audit import StoreError
from bot.config import Config, ConfigError, check_keys
from bot.events import Button
from runtime.base import Turn

if TYPE_CHECKING:
    from bot.core import Bot

log = logging.getLogger("so8t.slack")
DEFAULT_API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
Sleep = Callable[[float], Awaitable[Any]]


class SlackStartError(ConfigError):
    """Slack refused to start (bad token, no network): one line for the operator."""


@dataclass(frozen=True)
class SlackSettings:
    bot_token: str = field(repr=False)
    signing_secret: str = field(default="", repr=False)
    app_token: str = field(default="", repr=False)
    api_url: str = DEFAULT_API_URL
    update_interval_s: float = 1.0  # chat.update at most this often per message
    max_attempts: int = 8  # tries per Web API call on 429 / 5xx / network errors

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)


def settings_from_env(env: Mapping[str, str], config: Config | None = None) -> SlackSettings:
    """SLACK_* variables (+ optional `slack:` config section); ConfigError names what is missing."""
    token = env.get("SLACK_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError("SLACK_BOT_TOKEN is not set")
    if not token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN must be the app's bot token (xoxb-...), from OAuth & Permissions")
    app_token = env.get("SLACK_APP_TOKEN", "").strip()
    secret = env.get("SLACK_SIGNING_SECRET", "").strip()
    if app_token and not app_token.startswith("xapp-"):
        raise ConfigError("SLACK_APP_TOKEN must be an app-level token (xapp-...) with connections:write")
    if not app_token and not secret:
        raise ConfigError(
            "SLACK_SIGNING_SECRET is required for Slack over HTTP (or set SLACK_APP_TOKEN for Socket Mode)"
        )
    api_url = env.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL
    if not re.match(r"^https?://", api_url):
        raise ConfigError(f"SLACK_API_URL must start with http:// or https://, got {api_url[:60]!r}")
    if not api_url.endswith("/"):
        api_url += "/"
    section = config.section("slack") if config is not None else {}
    src = config.where if config is not None else "config"
    check_keys(section, "slack", ("update_interval",), src)
    interval = section.get("update_interval", 1.0)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval <= 60:
        raise ConfigError(f"{src}: key 'slack.update_interval' must be a number of seconds between 0 and 60")
    return SlackSettings(token, secret, app_token, api_url, float(interval))


class SlackAdapter:
    """Implements adapters.base.Adapter for Slack; `routes()` for HTTP mode, `start()`/`stop()`."""

    def __init__(
        self,
        bot: Bot,
        settings: SlackSettings,
        ledger: Ledger,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot = bot
        self.settings = settings
        self.ledger = ledger
        self.sleep = sleep
        self.client = AsyncWebClient(token=settings.bot_token, base_url=settings.api_url, timeout=30)
        self.app = AsyncApp(
            client=self.client,  # carries the bot token
            signing_secret=settings.signing_secret,
            request_verification_enabled=not settings.socket_mode,
            process_before_response=True,  # listeners only store and enqueue: the model runs later
            logger=logging.getLogger("so8t.slack.bolt"),
        )
        self.throttle = UpdateThrottle(settings.update_interval_s, clock, sleep)
        self.bot_user_id = ""
        self.bot_id = ""
        self._response_urls: dict[str, str] = {}  # slash trigger -> response_url (valid 30 min)
        self._socket: Any = None
        self._started = False
        self.app.event("app_mention")(self._on_event)
        self.app.event("message")(self._on_event)
        self.app.command(re.compile(r"^/so8t"))(self._on_command)
        self.app.action(re.compile(rf"^{translate.ACTION_PREFIX}"))(self._on_action)
        self.app.view(translate.MODAL_CALLBACK)(self._on_view)
        self.app.error(self._on_error)

    # ---------------------------------------------------------------- lifecycle
    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def connected(self) -> bool:
        return self._started

    def routes(self) -> list[web.RouteDef]:
        """HTTP mode: Slack's Events API, interactivity and slash commands all post here."""
        return [] if self.settings.socket_mode else [web.post(EVENTS_PATH, self.handle_http)]

    async def start(self) -> None:
        try:
            auth = await self._call(self.client.auth_test)
        except SlackApiError as exc:
            raise SlackStartError(f"Slack rejected SLACK_BOT_TOKEN ({_error(exc)})") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SlackStartError(f"cannot reach Slack at {self.settings.api_url} ({type(exc).__name__})") from None
        self.bot_user_id = str(auth.get("user_id") or "")
        self.bot_id = str(auth.get("bot_id") or "")
        if self.settings.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.app, self.settings.app_token)
            await self._socket.connect_async()
        self._started = True
        mode = "Socket Mode" if self.settings.socket_mode else f"HTTP {EVENTS_PATH}"
        log.info("slack adapter started (%s) as %s", mode, self.bot_user_id or "?")

    async def stop(self) -> None:
        await self.drain()
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        self._started = False

    async def drain(self) -> None:
        """Until parked (throttled) message updates are sent."""
        await self.throttle.drain()

    # ---------------------------------------------------------------- intake
    async def handle_http(self, request: web.Request) -> web.Response:
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def _on_error(self, error: Exception) -> None:
        log.error("slack listener failed: %s", type(error).__name__)

    async def _on_event(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        bot_user = self.bot_user_id or str(context.get("bot_user_id") or "")
        inbound = translate.message_from_event(event, bot_user)
        if inbound is None:
            return
        msg = inbound.message
        if not inbound.addressed and not (
            inbound.in_thread and self.ledger.in_thread(PLATFORM, msg.channel, msg.thread)
        ):
            return
        try:
            status = await self.bot.receive(msg)
        except StoreError as exc:
            log.error("slack message not accepted: %s", exc)
            return
        if status == "duplicate":
            log.debug("slack event %s already received", msg.event_id)

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        try:
            msg = translate.command_from_slash(body)
        except PayloadError as exc:
            log.warning("slash command ignored: %s", exc)
            return
        slash = translate.parse_slash_thread(msg.thread)
        url = body.get("response_url")
        if slash is not None and isinstance(url, str) and url:
            self._response_urls[slash.trigger] = url
        try:
            await self.bot.receive(msg)
        except StoreError as exc:
            log.error("slash command not accepted: %s", exc)
            await self._respond(url, "The bot's store is unavailable; try again shortly.")

    async def _on_action(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        try:
            ev = translate.action_from_block_actions(body)
        except PayloadError as exc:
            log.warning("button click ignored: %s", exc)
            return
        if ev is None:
            return
        if ev.action in ("answer", "decline"):
            refusal = self.bot.resolve_refusal(ev.platform, ev.user, ev.value, ev.roles)
            if refusal is not None:  # the dialog opens only for a reviewer of the case's domain
                await self._ephemeral(ev.channel, ev.user, refusal)
                return
            title = f"{ev.action.capitalize()} case #{ev.value}"
            label = "Your answer to the asker" if ev.action == "answer" else "Reason (optional)"
            trigger = body.get("trigger_id")
            await self._call(self.client.views_open, trigger_id=trigger, view=translate.resolve_modal(ev, title, label))
            return
        try:
            result = await self.bot.receive_action(ev)
        except StoreError as exc:
            log.error("button click not accepted: %s", exc)
            await self._ephemeral(ev.channel, ev.user, "The bot's store is unavailable; try again shortly.")
            return
        if not result.ok:
            await self._ephemeral(ev.channel, ev.user, result.message)

    async def _on_view(self, ack: Any, body: dict[str, Any]) -> None:
        try:
            ev = translate.action_from_view_submission(body)
        except PayloadError as exc:
            log.warning("modal submission ignored: %s", exc)
            await ack()
            return
        try:
            result = await self.bot.receive_action(ev)
        except StoreError:
            await ack(response_action="errors", errors={translate.MODAL_BLOCK: "The bot's store is unavailable."})
            return
        if result.ok:
            await ack()
        else:
            await ack(response_action="errors", errors={translate.MODAL_BLOCK: result.message[:150]})

    # ---------------------------------------------------------------- Adapter protocol
    async def reply(
        self,
        channel: str,
        thread: str,
        text: str,
        key: str,
        buttons: Sequence[Button] = (),
        kind: str = "answer",
    ) -> str:
        slash = translate.parse_slash_thread(thread)
        if slash is not None:
            return await self._reply_ephemeral(channel, slash, text, key)
        return await self._post(channel, thread or None, text, key, tuple(buttons), kind)

    async def post(self, channel: str, text: str, key: str, buttons: Sequence[Button] = (), kind: str = "card") -> str:
        return await self._post(channel, None, text, key, tuple(buttons), kind)

    async def post_file(self, channel: str, text: str, filename: str, content: bytes, key: str) -> str:
        """A file with `text` as its comment in a channel (the weekly report); once per key."""
        done = self.ledger.get(PLATFORM, key)
        if done is not None:
            return done.ref
        channel_id = self._channel_id(channel)
        resp = await self._call(
            self.client.files_upload_v2,
            channel=channel_id,
            content=content,
            filename=filename,
            title=filename,
            initial_comment=translate.escape(text),
        )
        files = resp.get("files") or [{}]
        ref = str((files[0] or {}).get("id") or key)
        self.ledger.put(PLATFORM, Posted(key, ref, channel_id, None, "notice", "[]"))
        return ref

    async def update(self, channel: str, ref: str, text: str, buttons: Sequence[Button] | None = None) -> None:
        row = self.ledger.by_ref(PLATFORM, ref)
        if buttons is not None and row is not None:
            self.ledger.set_buttons(PLATFORM, ref, translate.buttons_to_json(buttons))
        channel_id = row.channel if row is not None else self._channel_id(channel)
        keep = translate.buttons_from_json(row.buttons) if row is not None else ()
        shown = tuple(buttons) if buttons is not None else keep
        remove = buttons is not None and not buttons

        async def send() -> None:
            await self._edit(channel_id, ref, row, text, shown, remove)

        await self.throttle.update(ref, send)

    async def thread_context(self, channel: str, thread: str, before: str, limit: int) -> list[Turn]:
        if limit <= 0 or translate.parse_slash_thread(thread) is not None:
            return []
        channel_id = self._channel_id(channel)
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(3):  # up to 600 messages: the last `limit` turns are what counts
            resp = await self._call(
                self.client.conversations_replies, channel=channel_id, ts=thread, limit=200, cursor=cursor
            )
            messages += [m for m in resp.get("messages") or [] if isinstance(m, dict)]
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        bot_refs = [str(m.get("ts")) for m in messages if m.get("bot_id") or m.get("user") == self.bot_user_id]
        kinds = self.ledger.kinds(PLATFORM, bot_refs)
        turns = translate.turns_from_replies(messages, before, self.bot_user_id, self.bot_id, kinds)
        return turns[-limit:]

    # ---------------------------------------------------------------- posting
    def _channel_id(self, channel: str) -> str:
        return self.ledger.alias(PLATFORM, channel) or channel

    async def _post(
        self, channel: str, thread: str | None, text: str, key: str, buttons: tuple[Button, ...], kind: str
    ) -> str:
        done = self.ledger.get(PLATFORM, key)
        if done is not None:
            return done.ref
        channel_id = self._channel_id(channel)
        first = ""
        for i, piece in enumerate(split_text(text, translate.MESSAGE_LIMIT)):
            part_key = key if i == 0 else f"{key}#{i + 1}"
            prev = self.ledger.get(PLATFORM, part_key)
            if prev is not None:
                first = first or prev.ref
                continue
            btns = buttons if i == 0 else ()
            args: dict[str, Any] = {"channel": channel_id, "text": translate.escape(piece)}
            if btns:
                args["blocks"] = translate.blocks(piece, btns)
            if thread:
                args["thread_ts"] = thread
            resp = await self._call(self.client.chat_postMessage, unfurl_links=False, unfurl_media=False, **args)
            ts = str(resp.get("ts") or "")
            real = str(resp.get("channel") or channel_id)
            if real != channel_id:
                self.ledger.set_alias(PLATFORM, channel, real)
                channel_id = real
            self.ledger.put(PLATFORM, Posted(part_key, ts, real, thread, kind, translate.buttons_to_json(btns)))
            self.throttle.touched(ts)
            first = first or ts
        if thread:
            root = self.ledger.by_ref(PLATFORM, thread)
            if root is None or root.kind != "card":  # a card's thread is the reviewers', not a chat
                self.ledger.join_thread(PLATFORM, channel_id, thread)
        return first

    async def _edit(
        self,
        channel_id: str,
        ref: str,
        row: Posted | None,
        text: str,
        buttons: tuple[Button, ...],
        remove: bool,
    ) -> None:
        pieces = split_text(text, translate.MESSAGE_LIMIT)
        args: dict[str, Any] = {"channel": channel_id, "ts": ref, "text": translate.escape(pieces[0])}
        if buttons:
            args["blocks"] = translate.blocks(pieces[0], buttons)
        elif remove:
            args["blocks"] = []
        await self._call(self.client.chat_update, **args)
        if len(pieces) == 1 or row is None:
            return
        parts = self.ledger.parts(PLATFORM, row.key)
        for i, piece in enumerate(pieces[1:]):
            if i < len(parts):
                await self._call(self.client.chat_update, channel=channel_id, ts=parts[i], text=translate.escape(piece))
            else:
                await self._post(channel_id, row.thread or ref, piece, f"{row.key}#{i + 2}", (), row.kind)

    async def _reply_ephemeral(self, channel: str, slash: translate.SlashThread, text: str, key: str) -> str:
        done = self.ledger.get(PLATFORM, key)
        if done is not None:
            return done.ref
        with_file = slash.command == "report" and self.bot.settings.roles.is_admin(PLATFORM, slash.user)
        summary = translate.ephemeral_summary(text, with_file)
        url = self._response_urls.pop(slash.trigger, None)
        if not await self._respond(url, summary):
            await self._ephemeral(channel, slash.user, summary)
        if with_file:
            await self._send_report_file(slash.user, text)
        ref = f"ephemeral:{slash.trigger}"
        self.ledger.put(PLATFORM, Posted(key, ref, channel, None, "command", "[]"))
        return ref

    async def _respond(self, url: str | None, text: str) -> bool:
        """Answer a slash command through its response_url (ephemeral, works in any channel)."""
        if not url:
            return False
        try:
            resp = await AsyncWebhookClient(url, timeout=30).send(
                text=translate.escape(text), response_type="ephemeral"
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("slash response_url failed (%s); answering by chat.postEphemeral", type(exc).__name__)
            return False
        if resp.status_code != 200:
            log.warning("slash response_url answered %s; answering by chat.postEphemeral", resp.status_code)
            return False
        return True

    async def _ephemeral(self, channel: str, user: str, text: str) -> None:
        try:
            await self._call(
                self.client.chat_postEphemeral,
                channel=self._channel_id(channel),
                user=user,
                text=translate.escape(text),
            )
        except SlackApiError as exc:
            log.warning("ephemeral message not delivered (%s)", _error(exc))

    async def _send_report_file(self, user: str, text: str) -> None:
        """The whole report as a Markdown file in the admin's DM (files cannot be ephemeral)."""
        opened = await self._call(self.client.conversations_open, users=user)
        dm = str((opened.get("channel") or {}).get("id") or "")
        stamp = time.strftime("%Y%m%d-%H%M", time.gmtime())
        await self._call(
            self.client.files_upload_v2,
            channel=dm,
            content=text,
            filename=f"so8t-report-{stamp}.md",
            title=f"SO8T report {stamp}",
            initial_comment="The SO8T report you asked for.",
        )

    # ---------------------------------------------------------------- Web API with backoff
    async def _call(self, method: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
        """One Web API call; 429 waits Retry-After and retries, 5xx / network errors back off."""
        name = getattr(method, "__name__", "api")
        attempt = 0
        while True:
            attempt += 1
            try:
                return await method(**kwargs)
            except SlackApiError as exc:
                status = getattr(exc.response, "status_code", 0)
                if attempt >= self.settings.max_attempts or not (status == 429 or status >= 500):
                    raise
                wait = translate.retry_after(getattr(exc.response, "headers", {}), _backoff(attempt))
                if status == 429:
                    log.warning("slack %s rate-limited; retrying in %.1f s (try %d)", name, wait, attempt)
                else:
                    wait = _backoff(attempt)
                    log.warning("slack %s answered %s; retrying in %.1f s", name, status, wait)
            except (TimeoutError, aiohttp.ClientError) as exc:
                if attempt >= min(4, self.settings.max_attempts):
                    raise
                wait = _backoff(attempt)
                log.warning("slack %s failed (%s); retrying in %.1f s", name, type(exc).__name__, wait)
            await self.sleep(wait)


def _backoff(attempt: int) -> float:
    return float(min(30, 2 ** (attempt - 1)))


def _error(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {getattr(exc.response, 'status_code', '?')}"


def create(
    config: Config,
    bot: Bot,
    env: Mapping[str, str] | None = None,
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SlackAdapter:
    """Build the Slack adapter from env (SLACK_*) and register it with the bot as `slack`."""
    settings = settings_from_env(os.environ if env is None else env, config)
    adapter = SlackAdapter(bot, settings, Ledger(bot.settings.db_path), sleep=sleep, clock=clock)
    bot.adapters[PLATFORM] = adapter
    return adapter
