"""The Slack adapter's I/O: a slack-bolt AsyncApp (Socket Mode, or HTTP at /slack/events with
signature verification) that turns payloads into bot.events, and the Adapter methods the core posts
through (threaded replies, cards with buttons, ephemeral command answers, throttled updates).

Every Web API call goes through `_call`: 429 waits Retry-After (backoff when absent) and retries, so
nothing is dropped. Secrets live in SlackSettings fields hidden from repr and never logged.

Ack first, post after: a delivery (HTTP request or Socket Mode envelope) is dispatched as a task under
an `_AckGate`; the first Web API call made on its behalf (a busy / rate-limited / queue-full / empty
notice, an ephemeral line, views.open) waits until the delivery has been acknowledged, and asks for
the ack to be sent now. A listener that makes no call is acked with its own response (a modal's
errors), as bolt would. So a 429 back-off never holds an ack past Slack's 3 seconds.

Socket Mode: the first apps.connections.open is ours: a refused SLACK_APP_TOKEN (invalid_auth,
missing_scope, ...) fails start with one line; network errors, 5xx and ratelimited are retried with
back-off, as slack_sdk's client does for the reconnects it makes later.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
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
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.ledger import Ledger, Posted
from adapters.slack import translate
from adapters.slack.translate import PLATFORM, PayloadError
from adapters.textsplit import split_text
from adapters.throttle import UpdateThrottle
from bot.config import Config, check_keys
from bot.errors import ConfigError, StoreError
from bot.events import Button, buttons_from_json, buttons_to_json
from runtime.base import Turn

if TYPE_CHECKING:
    from bot.core import Bot

log = logging.getLogger("so8t.slack")
DEFAULT_API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
ACK_WITHIN_S = 2.0  # a delivery still running after this is acked anyway (Slack resends after 3 s)
STOP_WITHIN_S = 5.0  # shutdown waits this long for parked updates and in-flight deliveries
SOCKET_PING_S = 10.0  # Socket Mode ping interval (bolt's default); also slack_sdk's reconnect pause
MAX_REFUSED_WAIT_S = 300.0  # a token refused after start: retried this often at most
# apps.connections.open errors worth retrying; any other error is a refused app token
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})
Sleep = Callable[[float], Awaitable[Any]]
_CASE_KEY = re.compile(r"^(?:card|reminder|resolution):(?P<case>\d{1,18})$")  # posts about one case


class SlackStartError(ConfigError):
    """Slack refused to start (bad token, no network): one line for the operator."""


class _OneLine(logging.Filter):
    """slack_sdk's Socket Mode client logs every failed (re)connect with a traceback: keep the line,
    drop the traceback unless debugging."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not _socket_log.isEnabledFor(logging.DEBUG):
            record.exc_info = None
            record.exc_text = None
        return True


_socket_log = logging.getLogger("so8t.slack.socket")
_socket_log.addFilter(_OneLine())


class _NoTokenNotice(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN from the environment on its own and, given our client, warns at every
    start that it will not use it: true and intended (its clients get the token from `authorize`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_bolt_log = logging.getLogger("so8t.slack.bolt")
_bolt_log.addFilter(_NoTokenNotice())


class _AckGate:
    """One delivery's acknowledgement: Web API calls made for it wait until it is sent."""

    def __init__(self) -> None:
        self._acked = asyncio.Event()
        self._wanted = asyncio.Event()

    async def before_call(self) -> None:
        """Until the ack is sent; asks for it to be sent now."""
        if not self._acked.is_set():
            self._wanted.set()
            await self._acked.wait()

    async def settle(self, task: asyncio.Task[Any], within: float) -> bool:
        """Until the delivery's task finishes, a call asks for the ack, or `within` seconds pass;
        True when the task finished (its response is the ack)."""
        wanted = asyncio.ensure_future(self._wanted.wait())
        try:
            await asyncio.wait({task, wanted}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wanted.cancel()
        return task.done()

    def open(self) -> None:
        self._acked.set()


_ack_gate: contextvars.ContextVar[_AckGate | None] = contextvars.ContextVar("so8t_slack_ack_gate", default=None)


def app_token_refused(error: str) -> str:
    """The one start-up line for an app token Slack refused: which variable, and how to fix it."""
    if error == "missing_scope":
        fix = "the app-level token needs the connections:write scope"
    elif error == "not_allowed_token_type":
        fix = "it must be an app-level token (xapp-...) with connections:write, not a bot or user token"
    else:
        fix = "create an app-level token with connections:write"
    return (
        f"SLACK_APP_TOKEN was refused by Slack ({error}): {fix} "
        "(api.slack.com/apps > your app > Basic Information > App-Level Tokens; Socket Mode turned on)"
    )


def _transient(exc: SlackApiError) -> bool:
    status = int(getattr(exc.response, "status_code", 0) or 0)
    return status == 429 or status >= 500 or _error(exc) in TRANSIENT_ERRORS


class _SocketClient(SocketModeClient):
    """slack_sdk's aiohttp Socket Mode client, whose WSS URLs come from the adapter (`_connections_open`):
    a refused token fails start with one line instead of a retry loop with a traceback every 10 s."""

    def __init__(self, adapter: SlackAdapter) -> None:
        super().__init__(
            adapter.settings.app_token,
            logger=_socket_log,
            web_client=adapter.client,
            ping_interval=SOCKET_PING_S,
        )
        self.adapter = adapter

    async def issue_new_wss_url(self) -> str:
        return await self.adapter._connections_open(self)


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
    """Implements bot.ports.Adapter for Slack; `routes()` for HTTP mode, `start()`/`stop()`."""

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

        async def authorize() -> AuthorizeResult:  # bolt passes arguments by name: a plain function
            return await self._authorize()

        self.app = AsyncApp(
            # bolt's per-request clients get the bot token from `authorize`, which answers from the
            # auth.test made at start: no Web API call of bolt's own before a delivery is acked
            client=AsyncWebClient(base_url=settings.api_url, timeout=30),
            authorize=authorize,
            signing_secret=settings.signing_secret,
            request_verification_enabled=not settings.socket_mode,
            process_before_response=True,  # listeners only store and enqueue: the model runs later
            logger=_bolt_log,
        )
        self.throttle = UpdateThrottle(settings.update_interval_s, clock, sleep)
        self.bot_user_id = ""
        self.bot_id = ""
        self._auth: AsyncSlackResponse | None = None
        self._response_urls: dict[str, str] = {}  # slash trigger -> response_url (valid 30 min)
        self._socket: _SocketClient | None = None
        self._deliveries: set[asyncio.Task[Any]] = set()  # dispatches still running after their ack
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
    def socket_mode(self) -> bool:
        """True: events come over Socket Mode (no public URL); False: Slack posts to EVENTS_PATH."""
        return self.settings.socket_mode

    @property
    def connected(self) -> bool:
        """Started, and in Socket Mode the WebSocket is open (False while it reconnects: /healthz 503)."""
        if not self._started:
            return False
        sock = self._socket
        if sock is None:
            return not self.settings.socket_mode
        session = sock.current_session
        return not sock.closed and session is not None and not session.closed

    def routes(self) -> list[web.RouteDef]:
        """HTTP mode: Slack's Events API, interactivity and slash commands all post here."""
        return [] if self.settings.socket_mode else [web.post(EVENTS_PATH, self.handle_http)]

    async def start(self) -> None:
        """auth.test with the bot token, then in Socket Mode the WebSocket. Raises SlackStartError (one
        line) when Slack refuses a token; waits (cancellable) while Slack is only unreachable or busy."""
        try:
            auth = await self._call(self.client.auth_test)
        except SlackApiError as exc:
            raise SlackStartError(f"Slack rejected SLACK_BOT_TOKEN ({_error(exc)})") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SlackStartError(f"cannot reach Slack at {self.settings.api_url} ({type(exc).__name__})") from None
        self._auth = auth
        self.bot_user_id = str(auth.get("user_id") or "")
        self.bot_id = str(auth.get("bot_id") or "")
        if self.settings.socket_mode:
            sock = self._socket = _SocketClient(self)
            sock.socket_mode_request_listeners.append(self._on_socket_request)
            try:
                sock.wss_uri = await self._connections_open(sock)  # a refused token raises here, once
                await sock.connect()  # slack_sdk's: retries the WebSocket itself (network) until closed
            except BaseException:
                await self._close_socket()
                raise
        self._started = True
        mode = "Socket Mode" if self.settings.socket_mode else f"HTTP {EVENTS_PATH}"
        log.info("slack adapter started (%s) as %s", mode, self.bot_user_id or "?")

    async def stop(self) -> None:
        """Sends parked updates and lets in-flight deliveries finish, for STOP_WITHIN_S at most (a
        shutdown never waits on an unreachable Slack), then closes the WebSocket."""
        self._started = False
        try:
            await asyncio.wait_for(self.drain(), STOP_WITHIN_S)
        except TimeoutError:
            log.warning("slack: stopped with updates or deliveries unfinished (Slack unreachable?)")
        await self._close_socket()

    async def _close_socket(self) -> None:
        sock, self._socket = self._socket, None
        if sock is None:
            return
        sock.closed = True  # stops slack_sdk's reconnect loops even if close() below times out
        if sock.current_session is None:  # never connected: close() would log a disconnect
            sock.message_processor.cancel()
            await sock.aiohttp_client_session.close()
            return
        try:
            await asyncio.wait_for(sock.close(), 3.0)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.debug("slack socket close: %s", type(exc).__name__)
            with contextlib.suppress(Exception):
                await sock.aiohttp_client_session.close()

    async def drain(self) -> None:
        """Until deliveries still running after their ack are finished and parked (throttled) message
        updates are sent."""
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)
        await self.throttle.drain()

    async def _authorize(self) -> AuthorizeResult:
        """bolt's `authorize`: the bot token and identity, from the auth.test made at start."""
        auth = self._auth
        if auth is None:  # a delivery before start finished (HTTP mode): ask now (gated: acked first)
            auth = self._auth = await self._call(self.client.auth_test)
        return AuthorizeResult.from_auth_test_response(bot_token=self.settings.bot_token, auth_test_response=auth)

    async def _connections_open(self, sock: AsyncBaseSocketModeClient) -> str:
        """A WSS URL from apps.connections.open. Network errors, 5xx and ratelimited are retried with
        back-off. A refused app token raises SlackStartError at start; once started (a reconnect) it is
        logged, one line, and retried less and less often (the token may be restored)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = await self.client.apps_connections_open(app_token=self.settings.app_token)
                return str(resp["url"])
            except SlackApiError as exc:
                if not _transient(exc):
                    line = app_token_refused(_error(exc))
                    if not self._started:
                        raise SlackStartError(line) from None
                    wait = min(MAX_REFUSED_WAIT_S, SOCKET_PING_S * 2 ** min(attempt - 1, 5))
                    log.error("%s; retrying in %.0f s", line, wait)
                else:
                    wait = translate.retry_after(getattr(exc.response, "headers", {}), _backoff(attempt))
                    log.warning("slack apps.connections.open: %s; retrying in %.1f s", _error(exc), wait)
            except (TimeoutError, aiohttp.ClientError) as exc:
                wait = _backoff(attempt)
                log.warning("slack apps.connections.open failed (%s); retrying in %.1f s", type(exc).__name__, wait)
            if sock.closed:  # stopped meanwhile (a reconnect slack_sdk started on its own)
                raise ConnectionAbortedError("Slack Socket Mode client closed")
            await self.sleep(wait)
            if sock.closed:
                raise ConnectionAbortedError("Slack Socket Mode client closed")

    # ---------------------------------------------------------------- intake
    def _deliver(self, dispatch: Callable[[], Awaitable[BoltResponse]], gate: _AckGate) -> asyncio.Task[BoltResponse]:
        """Run one delivery's bolt dispatch as a task under `gate` (its Web API calls wait for the ack)."""
        token = _ack_gate.set(gate)
        try:
            task: asyncio.Task[BoltResponse] = asyncio.ensure_future(dispatch())
        finally:
            _ack_gate.reset(token)
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)
        return task

    async def _after_ack(self, task: asyncio.Task[BoltResponse], acked_early: bool) -> None:
        if task.done() and not acked_early:
            return
        try:
            late = await task
        except Exception as exc:  # noqa: BLE001 - bolt handles listener errors; this is its own
            log.error("slack delivery failed after its ack (%s)", type(exc).__name__)
            return
        if late.body:
            log.debug("slack listener answered after the early ack; its response is dropped")

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        """HTTP mode: the response is the ack; it is sent before any Web API call made for the request."""
        bolt_request = await to_bolt_request(request)
        gate = _AckGate()
        task = self._deliver(lambda: self.app.async_dispatch(bolt_request), gate)
        finished = False
        try:
            finished = await gate.settle(task, ACK_WITHIN_S)
            response = await to_aiohttp_response(task.result()) if finished else web.Response(status=200)
            await response.prepare(request)
            await response.write_eof()
        finally:
            gate.open()
        await self._after_ack(task, not finished)
        return response

    async def _on_socket_request(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        """Socket Mode: one envelope, acked before any Web API call made for it (bolt's own handler acks
        only after the listener returns, so a notice's 429 back-off would hold the ack)."""
        started = time.time()
        gate = _AckGate()
        task = self._deliver(lambda: run_async_bolt_app(self.app, req), gate)
        finished = False
        try:
            finished = await gate.settle(task, ACK_WITHIN_S)
            if finished:
                await send_async_response(client, req, task.result(), started)
            else:
                await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        finally:
            gate.open()
        await self._after_ack(task, not finished)

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
            dialog = self.bot.resolve_dialog(ev.platform, ev.user, ev.action, ev.value)  # in the case's language
            trigger = body.get("trigger_id")
            await self._call(self.client.views_open, trigger_id=trigger, view=translate.resolve_modal(ev, dialog))
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

    async def reply_file(
        self, channel: str, thread: str, text: str, filename: str, content: bytes, key: str, lang: str = "en"
    ) -> str:
        """`text` with a file (the full report of `/so8t report`), once per key, by files.upload v2
        (files.getUploadURLExternal, the upload, files.completeUploadExternal). In a thread the file is
        shared there with `text` as its comment; a slash command's answer is ephemeral and files cannot
        be, so the file goes to the asker's DM and the ephemeral answer says where. Raises when the upload
        fails (e.g. no files:write scope) before anything is posted: the core then replies with a link."""
        done = self.ledger.get(PLATFORM, key)
        if done is not None:
            return done.ref
        slash = translate.parse_slash_thread(thread)
        if slash is not None:
            await self._upload_to_dm(slash.user, text, filename, content)
            note = self.bot.replies.render("report_file_dm", lang, filename=filename)
            return await self._reply_ephemeral(channel, slash, f"{text}\n{note}", key)
        channel_id = self._channel_id(channel)
        resp = await self._call(
            self.client.files_upload_v2,
            channel=channel_id,
            thread_ts=thread or None,
            content=content,
            filename=filename,
            title=filename,
            initial_comment=translate.escape(text),
        )
        files = resp.get("files") or [{}]
        ref = str((files[0] or {}).get("id") or key)
        self.ledger.put(PLATFORM, Posted(key, ref, channel_id, thread or None, "command", "[]"))
        if thread:
            self.ledger.join_thread(PLATFORM, channel_id, thread)
        return ref

    async def update(self, channel: str, ref: str, text: str, buttons: Sequence[Button] | None = None) -> None:
        row = self.ledger.by_ref(PLATFORM, ref)
        if buttons is not None and row is not None:
            self.ledger.set_buttons(PLATFORM, ref, buttons_to_json(buttons))
        channel_id = row.channel if row is not None else self._channel_id(channel)
        keep = buttons_from_json(row.buttons) if row is not None else ()
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
        users, channels = self._case_ids(key)
        first = ""
        for i, piece in enumerate(split_text(text, translate.MESSAGE_LIMIT)):
            part_key = key if i == 0 else f"{key}#{i + 1}"
            prev = self.ledger.get(PLATFORM, part_key)
            if prev is not None:
                first = first or prev.ref
                continue
            btns = buttons if i == 0 else ()
            ids = (users, channels) if i == 0 else ((), ())  # mentions on the first line only
            args: dict[str, Any] = {"channel": channel_id, "text": translate.mrkdwn(piece, *ids)}
            if btns:
                args["blocks"] = translate.blocks(piece, btns, *ids)
            if thread:
                args["thread_ts"] = thread
            resp = await self._call(self.client.chat_postMessage, unfurl_links=False, unfurl_media=False, **args)
            ts = str(resp.get("ts") or "")
            real = str(resp.get("channel") or channel_id)
            if real != channel_id:
                self.ledger.set_alias(PLATFORM, channel, real)
                channel_id = real
            self.ledger.put(PLATFORM, Posted(part_key, ts, real, thread, kind, buttons_to_json(btns)))
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
        users, channels = self._case_ids(row.key) if row is not None else ([], [])
        args: dict[str, Any] = {"channel": channel_id, "ts": ref, "text": translate.mrkdwn(pieces[0], users, channels)}
        if buttons:
            args["blocks"] = translate.blocks(pieces[0], buttons, users, channels)
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

    def _case_ids(self, key: str) -> tuple[list[str], list[str]]:
        """The people and channel a case's post (card, reminder, resolution) names as mentions (`<@U…>`,
        `<#C…>`: Slack shows their names), not as raw ids; none for any other post."""
        m = _CASE_KEY.match(key)
        if m is None:
            return [], []
        try:
            esc = self.bot.store.get_escalation(int(m["case"]))
        except StoreError:
            return [], []
        if esc is None or esc.platform != PLATFORM:
            return [], []
        users = [esc.user] + ([esc.resolution.reviewer] if esc.resolution is not None else [])
        return users, [esc.channel]

    async def _reply_ephemeral(self, channel: str, slash: translate.SlashThread, text: str, key: str) -> str:
        done = self.ledger.get(PLATFORM, key)
        if done is not None:
            return done.ref
        summary = translate.ephemeral_summary(text, False)  # a report's file comes by reply_file
        url = self._response_urls.pop(slash.trigger, None)
        if not await self._respond(url, summary, slash.user):
            await self._ephemeral(channel, slash.user, summary)
        ref = f"ephemeral:{slash.trigger}"
        self.ledger.put(PLATFORM, Posted(key, ref, channel, None, "command", "[]"))
        return ref

    async def _respond(self, url: str | None, text: str, user: str = "") -> bool:
        """Answer a slash command through its response_url (ephemeral, works in any channel)."""
        if not url:
            return False
        gate = _ack_gate.get()
        if gate is not None:
            await gate.before_call()
        try:
            resp = await AsyncWebhookClient(url, timeout=30).send(
                text=translate.mrkdwn(text, [user]), response_type="ephemeral"
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
                text=translate.mrkdwn(text, [user]),  # "<@U…> is not one": only they see it
            )
        except SlackApiError as exc:
            log.warning("ephemeral message not delivered (%s)", _error(exc))

    async def _upload_to_dm(self, user: str, text: str, filename: str, content: bytes) -> None:
        """A file in the user's DM with `text` as its comment (a slash command's file: none is ephemeral)."""
        opened = await self._call(self.client.conversations_open, users=user)
        dm = str((opened.get("channel") or {}).get("id") or "")
        await self._call(
            self.client.files_upload_v2,
            channel=dm,
            content=content,
            filename=filename,
            title=filename,
            initial_comment=translate.escape(text),
        )

    # ---------------------------------------------------------------- Web API with backoff
    async def _call(self, method: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
        """One Web API call; 429 waits Retry-After and retries, 5xx / network errors back off.
        Made for a delivery not acked yet, it first has the ack sent (ack first, post after)."""
        gate = _ack_gate.get()
        if gate is not None:
            await gate.before_call()
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
        return re.sub(r"[^A-Za-z0-9_.:-]", "", str(data["error"]))[:60] or "error"
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
