"""The Discord adapter's I/O: a discord.py client (gateway intents: guilds, guild messages, DMs,
message content) that turns payloads into bot.events, and the Adapter methods the core posts through.

Intake reads the raw gateway dicts at discord.py's state/parse seam (`ConnectionState.parsers`), so
translate.py sees exactly what Discord sent. Card buttons are DynamicItems (custom_id
`so8t:<action>:<case>`) registered at every start: a card posted before a restart keeps working.
`/so8t` is an application command group, deferred first (Discord's 3 s), answered ephemerally.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import io
import json
import logging
import os
import re
import time
import types
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from adapters.discord import translate
from adapters.discord.translate import PLATFORM, PayloadError
from adapters.ledger import Ledger, Posted
from adapters.textsplit import split_text
from adapters.throttle import UpdateThrottle
from bot.config import Config, check_keys
from bot.errors import ConfigError, StoreError
from bot.events import ActionEvent, Button, Dialog, Escalation, Message, buttons_to_json
from runtime.base import Turn

if TYPE_CHECKING:
    from bot.core import Bot

log = logging.getLogger("so8t.discord")
ARCHIVE_MINUTES = (60, 1440, 4320, 10080)
_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "danger": discord.ButtonStyle.danger,
    "default": discord.ButtonStyle.secondary,
}
_THREAD_EXISTS = 160004
_CASE_KEY = re.compile(r"^(?:card|reminder|resolution):(?P<case>\d{1,18})$")  # posts about one case
_RAW_KEEP = 512  # raw interaction payloads kept until their callback runs


class DiscordStartError(ConfigError):
    """Discord refused to start (bad token, unreachable): one line for the operator."""


class BadReply(discord.HTTPException):
    """The REST base answered a request with something other than JSON (a proxy's or a captive portal's
    page, broken JSON): an HTTPException (502), so it takes the path of any failed REST call."""

    def __init__(self, route: discord.http.Route, what: str) -> None:
        super().__init__(types.SimpleNamespace(status=502, reason="Bad Gateway"), what)  # type: ignore[arg-type]
        self.line = (
            f"Discord REST {route.method} {route.path} at {discord.http.Route.BASE} answered {what}, "
            "not JSON (check DISCORD_API_URL or the proxy)"
        )

    def __str__(self) -> str:
        return self.line


@dataclass(frozen=True)
class DiscordSettings:
    token: str = field(repr=False)
    api_url: str | None = None  # REST base, e.g. a proxy (default https://discord.com/api/v10)
    guild_id: int | None = None  # sync /so8t to this guild at once (global sync can take an hour)
    sync_commands: bool = True
    thread_archive_minutes: int = 1440
    update_interval_s: float = 1.0
    gateway_url: str | None = None  # gateway websocket, e.g. a proxy (default wss://gateway.discord.gg/)
    ready_timeout_s: float = 60.0  # start() fails with one line when no READY came by then


def settings_from_env(env: Mapping[str, str], config: Config | None = None) -> DiscordSettings:
    token = env.get("DISCORD_TOKEN", "").strip()
    if not token:
        raise ConfigError("DISCORD_TOKEN is not set")
    api_url = env.get("DISCORD_API_URL", "").strip().rstrip("/") or None
    if api_url and not re.match(r"^https?://", api_url):
        raise ConfigError(f"DISCORD_API_URL must start with http:// or https://, got {api_url[:60]!r}")
    gateway_url = env.get("DISCORD_GATEWAY_URL", "").strip() or None
    if gateway_url and not re.match(r"^wss?://[^/\s]", gateway_url):
        raise ConfigError(f"DISCORD_GATEWAY_URL must start with ws:// or wss://, got {gateway_url[:60]!r}")
    guild = env.get("DISCORD_GUILD_ID", "").strip()
    if guild and not guild.isdigit():
        raise ConfigError(f"DISCORD_GUILD_ID must be a server id (digits), got {guild[:30]!r}")
    sync = env.get("DISCORD_SYNC_COMMANDS", "1").strip().lower() not in ("0", "false", "no", "off")
    section = config.section("discord") if config is not None else {}
    src = config.where if config is not None else "config"
    check_keys(section, "discord", ("thread_archive_minutes", "update_interval"), src)
    archive = section.get("thread_archive_minutes", 1440)
    if archive not in ARCHIVE_MINUTES:
        raise ConfigError(f"{src}: key 'discord.thread_archive_minutes' must be one of 60, 1440, 4320, 10080")
    interval = section.get("update_interval", 1.0)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval <= 60:
        raise ConfigError(f"{src}: key 'discord.update_interval' must be a number of seconds between 0 and 60")
    return DiscordSettings(
        token,
        api_url,
        int(guild) if guild else None,
        sync,
        int(archive),
        float(interval),
        gateway_url=gateway_url,
    )


def set_api_base(url: str) -> None:
    """Point discord.py's REST (and interaction webhooks, which share its Route) at `url`."""
    discord.http.Route.BASE = url.rstrip("/")


def set_gateway(url: str) -> None:
    """Point discord.py's gateway connections (the first, and every reconnect) at `url`."""
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)


class _OneLine(logging.Filter):
    """discord.py logs each gateway reconnect with a traceback: one line instead (all of it with -v)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and not logging.getLogger().isEnabledFor(logging.DEBUG):
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {str(exc)[:200]})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_ONE_LINE = _OneLine()


# ---------------------------------------------------------------------- components
class CardButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"so8t:(?P<action>approve|decline|answer|appeal|kb_save):(?P<value>\d{1,20})",
):
    """A card or refusal button; its custom_id carries the action and the case (or decision) id."""

    def __init__(
        self, action: str, value: str, label: str = "", style: discord.ButtonStyle = discord.ButtonStyle.secondary
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=(label or action.capitalize())[:80], style=style, custom_id=translate.custom_id(action, value)
            )
        )
        self.action = action
        self.value = value

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CardButton:
        label = getattr(item, "label", None) or ""
        style = getattr(item, "style", discord.ButtonStyle.secondary)
        return cls(match["action"], match["value"], label, style)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        adapter = getattr(interaction.client, "so8t_adapter", None)
        if isinstance(adapter, DiscordAdapter):
            await adapter.on_button(interaction, self.action, self.value)


class ResolveModal(discord.ui.Modal):
    """The text of an Answer (required) or a Decline (optional); the submit is handled from its
    custom_id in on_interaction, so it works even when the modal outlived a restart."""

    def __init__(self, action: str, value: str, dialog: Dialog) -> None:
        super().__init__(
            title=dialog.title[:45],
            custom_id=translate.modal_id(action, value),
            timeout=None,
        )
        self.text: discord.ui.TextInput[ResolveModal] = discord.ui.TextInput(
            label=dialog.label[:45],
            style=discord.TextStyle.long,
            required=action == "answer",
            max_length=1900,
            custom_id=translate.MODAL_INPUT,
        )
        self.add_item(self.text)


def card_view(buttons: Sequence[Button]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for b in buttons:
        view.add_item(CardButton(b.action, b.value, b.label, _STYLES.get(b.style, discord.ButtonStyle.secondary)))
    return view


def command_group(adapter: DiscordAdapter) -> app_commands.Group:
    group = app_commands.Group(name="so8t", description="SO8T: the safety-checked assistant")

    @group.command(name="help", description="What SO8T does and its commands")
    async def help_(interaction: discord.Interaction[Any]) -> None:
        await adapter.on_command(interaction)

    @group.command(name="status", description="Model, head, queue and open cases")
    async def status(interaction: discord.Interaction[Any]) -> None:
        await adapter.on_command(interaction)

    @group.command(name="report", description="Decision counts (admins)")
    @app_commands.describe(since="start: 2024-05-01, 2024-05-01T09:00 or 7d", until="end (exclusive)")
    async def report(interaction: discord.Interaction[Any], since: str | None = None, until: str | None = None) -> None:
        await adapter.on_command(interaction)

    @group.command(name="resolve", description="Close an escalated case (reviewers)")
    @app_commands.describe(case="case number", action="what to do", text="your answer or reason")
    async def resolve(
        interaction: discord.Interaction[Any],
        case: int,
        action: Literal["approve", "decline", "answer"],
        text: str | None = None,
    ) -> None:
        await adapter.on_command(interaction)

    @group.command(name="appeal", description="Ask a person to review a refusal")
    @app_commands.describe(decision="decision number (default: your last refusal here)")
    async def appeal(interaction: discord.Interaction[Any], decision: int | None = None) -> None:
        await adapter.on_command(interaction)

    return group


class So8tClient(discord.Client):
    def __init__(self, adapter: DiscordAdapter, **kwargs: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.dm_messages = True
        intents.message_content = True
        # every send, edit, interaction response and follow-up: mentions show names but never ping
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none(), **kwargs)
        self.so8t_adapter = adapter
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(command_group(adapter))

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CardButton)  # buttons of cards posted before this start keep working
        await self.so8t_adapter.sync_commands()

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        await self.so8t_adapter.on_interaction(interaction)


# ---------------------------------------------------------------------- adapter
class DiscordAdapter:
    """Implements bot.ports.Adapter for Discord; `start()` logs in and connects the gateway."""

    def __init__(
        self,
        bot: Bot,
        settings: DiscordSettings,
        ledger: Ledger,
        *,
        gateway: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.bot = bot
        self.settings = settings
        self.ledger = ledger
        self.gateway = gateway
        if settings.api_url:
            set_api_base(settings.api_url)
        if settings.gateway_url:
            set_gateway(settings.gateway_url)
        for name in ("discord.client", "discord.gateway"):
            logging.getLogger(name).addFilter(_ONE_LINE)  # once: a logger keeps a filter only once
        self.client = So8tClient(self)
        self._request = self.client.http.request
        setattr(self.client.http, "request", self._checked_request)  # noqa: B010 - every REST call
        self.throttle = UpdateThrottle(settings.update_interval_s, clock, sleep)
        self._logged_in = asyncio.Event()
        self._ready = asyncio.Event()  # the gateway's READY arrived
        self._gateway_error = ""
        self._gateway_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._raw: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self._interactions: dict[str, discord.Interaction[Any]] = {}
        self._titles: dict[tuple[str, str], str] = {}
        self._dm_channels: set[str] = set()
        parsers = self.client._connection.parsers
        self._parse_message = parsers["MESSAGE_CREATE"]
        self._parse_interaction = parsers["INTERACTION_CREATE"]
        self._parse_ready = parsers["READY"]
        parsers["MESSAGE_CREATE"] = self._on_message_create
        parsers["INTERACTION_CREATE"] = self._on_interaction_create
        parsers["READY"] = self._on_ready

    # ---------------------------------------------------------------- lifecycle
    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def connected(self) -> bool:
        """Logged in, and the gateway's READY arrived (events come in): what `so8t serve` calls connected."""
        return self._logged_in.is_set() and (not self.gateway or self._ready.is_set())

    @property
    def bot_id(self) -> str:
        return str(self.client.user.id) if self.client.user else ""

    def routes(self) -> list[Any]:
        return []  # the gateway is outbound: nothing to serve

    async def start(self) -> None:
        """Log in over REST, then (with the gateway) wait for its READY: returns only once events can
        come in. Raises DiscordStartError (one line), with every session and connector closed."""
        # interaction responses and follow-ups (discord.py's webhook adapter, per context): checked too;
        # set before the gateway task starts, so that every dispatch's task inherits it
        async_context.set(_CheckedWebhooks(self))
        try:
            await self._login()
            if self.gateway:
                self._gateway_task = asyncio.create_task(self._connect(), name="so8t-discord-gateway")
                await self._until_ready()
        except BaseException:
            await self._close()
            raise
        log.info("discord adapter connected as %s", self.bot_id or "?")

    async def _login(self) -> None:
        base = discord.http.Route.BASE
        try:
            await self.client.login(self.settings.token)
        except discord.LoginFailure:
            raise DiscordStartError("Discord rejected DISCORD_TOKEN (check the bot token)") from None
        except BadReply as exc:
            raise DiscordStartError(str(exc)) from None
        except discord.HTTPException as exc:
            raise DiscordStartError(f"Discord at {base} answered HTTP {exc.status} to the login") from None
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            raise DiscordStartError(f"cannot reach Discord at {base} ({type(exc).__name__})") from None
        self._logged_in.set()

    async def _until_ready(self) -> None:
        assert self._gateway_task is not None
        ready = asyncio.create_task(self._ready.wait())
        try:
            await asyncio.wait(
                (ready, self._gateway_task), timeout=self.settings.ready_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
        if self._ready.is_set():
            return
        if self._gateway_task.done():
            raise DiscordStartError(self._gateway_error or "the Discord gateway closed before READY")
        where = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        raise DiscordStartError(
            f"no READY from the Discord gateway at {where} within {self.settings.ready_timeout_s:g} s "
            "(check DISCORD_GATEWAY_URL, the network or the proxy)"
        )

    async def _connect(self) -> None:
        try:
            await self.client.connect(reconnect=True)  # reconnects and resumes are discord.py's
            return
        except discord.PrivilegedIntentsRequired:
            self._gateway_error = (
                "Discord refused the gateway: enable the Message Content intent "
                "(Developer Portal > your app > Bot > Privileged Gateway Intents)"
            )
        except discord.ConnectionClosed as exc:
            self._gateway_error = f"the Discord gateway closed the connection (code {exc.code}: {exc.reason or '-'})"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one line; the rest of the bot keeps serving
            self._gateway_error = f"discord gateway stopped ({type(exc).__name__})"
        if self._ready.is_set():  # before READY, start() raises it instead
            log.error("%s", self._gateway_error)
            self._ready.clear()  # health shows it: no events come in any more

    def _on_ready(self, data: Any) -> None:
        self._parse_ready(data)
        ws = self.client.ws
        if self.settings.gateway_url and ws is not None:
            ws.gateway = yarl.URL(self.settings.gateway_url)  # resumes too, not READY's resume_gateway_url
        self._ready.set()

    async def stop(self) -> None:
        await self.drain()
        await self._close()

    async def _close(self) -> None:
        """Close the client (its websocket, its HTTP session and connector) and end the gateway task."""
        await self.client.close()
        if self._gateway_task is not None:
            self._gateway_task.cancel()
            await asyncio.gather(self._gateway_task, return_exceptions=True)
        self._logged_in.clear()
        self._ready.clear()

    async def _checked_request(self, route: discord.http.Route, **kwargs: Any) -> Any:
        """discord.py's request, except that a reply that is not JSON raises BadReply (logged in one line)
        instead of reaching the parsers as a string (a TypeError deep in discord.py)."""
        return await self._checked(route, self._request(route, **kwargs))

    async def _checked(self, route: discord.http.Route, call: Awaitable[Any]) -> Any:
        try:
            data = await call
        except json.JSONDecodeError:
            exc = BadReply(route, "broken JSON")
        else:
            if not isinstance(data, str) or not data.strip():
                return data  # JSON, or an empty 204
            try:  # JSON under another Content-Type (a proxy that adds "; charset=utf-8"): still JSON
                parsed = json.loads(data)
            except ValueError:
                parsed = None
            if isinstance(parsed, (dict, list)):
                return parsed
            exc = BadReply(route, f"text ({' '.join(data.split())[:60]!r})")
        if self._logged_in.is_set():  # before, start() fails with this line
            log.warning("%s", exc)
        raise exc

    async def _guarded(self, what: str, work: Awaitable[None]) -> None:
        """An interaction handler whose REST call failed: one line, not discord.py's traceback."""
        try:
            await work
        except BadReply:
            pass  # logged by _checked_request
        except discord.HTTPException as exc:
            log.warning("discord %s not answered (HTTP %s)", what, exc.status)

    async def drain(self) -> None:
        """Until received payloads are handed to the core and parked updates are sent."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.throttle.drain()

    async def sync_commands(self) -> None:
        if not self.settings.sync_commands:
            return
        guild = discord.Object(id=self.settings.guild_id) if self.settings.guild_id else None
        try:
            if guild is not None:
                self.client.tree.copy_global_to(guild=guild)
            await self.client.tree.sync(guild=guild)
        except BadReply as exc:
            log.warning("could not register /so8t with Discord: %s", exc)
        except discord.HTTPException as exc:
            log.warning("could not register /so8t with Discord (HTTP %s)", exc.status)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---------------------------------------------------------------- intake (gateway parse seam)
    def feed(self, event: str, data: dict[str, Any]) -> None:
        """Hand one gateway dispatch (t, d) to discord.py's parser, as the gateway does."""
        self.client._connection.parsers[event](data)

    def _on_message_create(self, data: Any) -> None:
        try:
            self._take_message(data)
        finally:
            self._parse_message(data)

    def _take_message(self, data: dict[str, Any]) -> None:
        channel = str(data.get("channel_id") or "")
        cached = self.client.get_channel(int(channel)) if channel.isdigit() else None
        in_thread = isinstance(cached, discord.Thread) or self.ledger.in_thread(PLATFORM, channel, channel)
        inbound = translate.message_from_payload(data, self.bot_id, in_thread)
        if inbound is None:
            return
        msg = inbound.message
        if inbound.direct:
            self._dm_channels.add(msg.channel)
        if not inbound.addressed and not self.ledger.in_thread(PLATFORM, msg.channel, msg.thread):
            return
        self._titles[(msg.channel, msg.thread)] = translate.thread_name(msg.text)
        self._spawn(self._receive(msg))

    async def _receive(self, msg: Message) -> None:
        try:
            await self.bot.receive(msg)
        except StoreError as exc:
            log.error("discord message not accepted: %s", exc)

    def _on_interaction_create(self, data: Any) -> None:
        iid = str(data.get("id") or "")
        if iid:
            self._raw[iid] = data
            while len(self._raw) > _RAW_KEEP:
                self._raw.popitem(last=False)
        self._parse_interaction(data)

    def _payload(self, interaction: discord.Interaction[Any]) -> dict[str, Any]:
        raw = self._raw.pop(str(interaction.id), None)
        if raw is None:
            raise PayloadError(f"interaction {interaction.id} arrived without its payload")
        return raw

    def _with_roles(self, ev: ActionEvent, payload: dict[str, Any]) -> ActionEvent:
        """The clicker's role ids travel with the event (roles by role id in config: discord:role:ID)."""
        roles = translate.member_roles(payload)
        return dataclasses.replace(ev, roles=roles) if roles else ev

    async def on_button(self, interaction: discord.Interaction[Any], action: str, value: str) -> None:
        await self._guarded("button click", self._on_button(interaction, action, value))

    async def _on_button(self, interaction: discord.Interaction[Any], action: str, value: str) -> None:
        if action in ("answer", "decline"):
            raw = self._raw.pop(str(interaction.id), None) or {}
            user = str(getattr(interaction.user, "id", ""))
            refusal = self.bot.resolve_refusal(PLATFORM, user, value, translate.member_roles(raw))
            if refusal is not None:  # the form opens only for a reviewer of the case's domain
                await interaction.response.send_message(translate.mention_ids(refusal, [user]), ephemeral=True)
                return
            dialog = self.bot.resolve_dialog(PLATFORM, user, action, value)  # in the case's language
            await interaction.response.send_modal(ResolveModal(action, value, dialog))
            return
        await interaction.response.defer(ephemeral=True)  # within Discord's 3 s, before any work
        await self._act_on_payload(interaction, "button click")

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Modal submits (ours by custom_id); buttons and commands have their own callbacks."""
        await self._guarded("modal submit", self._on_interaction(interaction))

    async def _on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.type != discord.InteractionType.modal_submit:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        if not translate.MODAL_ID.match(str(data.get("custom_id", ""))):
            return
        await interaction.response.defer(ephemeral=True)
        await self._act_on_payload(interaction, "modal submit")

    async def _act_on_payload(self, interaction: discord.Interaction[Any], what: str) -> None:
        """A deferred click or modal submit -> ActionEvent (with the clicker's roles) -> the core."""
        try:
            payload = self._payload(interaction)
            ev = translate.action_from_interaction(payload)
        except PayloadError as exc:
            log.warning("%s ignored: %s", what, exc)
            return
        if ev is not None:
            await self._act(interaction, self._with_roles(ev, payload))

    async def _act(self, interaction: discord.Interaction[Any], ev: ActionEvent) -> None:
        try:
            result = await self.bot.receive_action(ev)
        except StoreError as exc:
            log.error("discord action not accepted: %s", exc)
            await interaction.followup.send("The bot's store is unavailable; try again shortly.", ephemeral=True)
            return
        if not result.ok:
            line = translate.mention_ids(result.message, [ev.user])
            await interaction.followup.send(line[: translate.MESSAGE_LIMIT], ephemeral=True)

    async def on_command(self, interaction: discord.Interaction[Any]) -> None:
        await self._guarded("/so8t command", self._on_command(interaction))

    async def _on_command(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # first: Discord's 3 s
        try:
            msg = translate.command_from_interaction(self._payload(interaction))
        except PayloadError as exc:
            log.warning("command ignored: %s", exc)
            await interaction.followup.send("Sorry, I could not read that command.", ephemeral=True)
            return
        if msg is None:
            return
        self._interactions[str(interaction.id)] = interaction
        try:
            await self.bot.receive(msg)
        except StoreError as exc:
            log.error("discord command not accepted: %s", exc)
            await interaction.followup.send("The bot's store is unavailable; try again shortly.", ephemeral=True)

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
        await self._logged_in.wait()
        done = self.ledger.get(PLATFORM, key)
        if done is not None:
            return done.ref
        slash = translate.parse_slash_thread(thread)
        if slash is not None:
            return await self._reply_command(channel, slash, text, key)
        text = self._with_mentions(key, text)
        target, reference = await self._thread_target(channel, thread)
        return await self._send(target, thread, text, key, tuple(buttons), kind, reference)

    async def post(self, channel: str, text: str, key: str, buttons: Sequence[Button] = (), kind: str = "card") -> str:
        await self._logged_in.wait()
        done = self.ledger.get(PLATFORM, key)
        if done is not None:
            return done.ref
        if not channel.isdigit():
            raise ConfigError(f"discord channel must be a channel id (digits), got {channel[:40]!r}")
        esc = self._escalation(key)
        if esc is not None and kind == "card":
            await self._title_case_thread(esc)
        return await self._send(channel, None, self._with_mentions(key, text, esc), key, tuple(buttons), kind, None)

    async def post_file(self, channel: str, text: str, filename: str, content: bytes, key: str) -> str:
        """A message with an attached file in a channel (the weekly report); once per key."""
        await self._logged_in.wait()
        done = self.ledger.get(PLATFORM, key)
        if done is not None:
            return done.ref
        if not channel.isdigit():
            raise ConfigError(f"discord channel must be a channel id (digits), got {channel[:40]!r}")
        dest = self.client.get_partial_messageable(int(channel))
        summary = text if len(text) <= translate.MESSAGE_LIMIT - 50 else text[: translate.MESSAGE_LIMIT - 51] + "…"
        sent = await dest.send(
            summary,
            file=discord.File(io.BytesIO(content), filename=filename),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.ledger.put(PLATFORM, Posted(key, str(sent.id), channel, None, "notice", "[]"))
        return str(sent.id)

    async def reply_file(
        self, channel: str, thread: str, text: str, filename: str, content: bytes, key: str, lang: str = "en"
    ) -> str:
        """`text` with a file attached (the full report of `/so8t report`; a multipart message), once per
        key: the ephemeral follow-up of a /so8t command (a DM after a restart), else a reply in the thread.
        Raises when Discord refuses it (e.g. no Attach Files permission) before anything is posted: the
        core then replies with a link."""
        await self._logged_in.wait()
        done = self.ledger.get(PLATFORM, key)
        if done is not None:
            return done.ref
        file = discord.File(io.BytesIO(content), filename=filename)
        slash = translate.parse_slash_thread(thread)
        if slash is not None:
            return await self._reply_command(channel, slash, text, key, file)
        target, reference = await self._thread_target(channel, thread)
        kwargs: dict[str, Any] = {"file": file, "allowed_mentions": discord.AllowedMentions.none()}
        if reference:
            kwargs["reference"] = discord.MessageReference(
                message_id=int(reference), channel_id=int(target), fail_if_not_exists=False
            )
        limit = translate.MESSAGE_LIMIT
        sent = await self.client.get_partial_messageable(int(target)).send(
            text if len(text) <= limit else text[: limit - 1] + "…", **kwargs
        )
        self.ledger.put(PLATFORM, Posted(key, str(sent.id), target, thread, "command", "[]"))
        return str(sent.id)

    async def update(self, channel: str, ref: str, text: str, buttons: Sequence[Button] | None = None) -> None:
        await self._logged_in.wait()
        row = self.ledger.by_ref(PLATFORM, ref)
        target = row.channel if row is not None else channel
        shown = None if buttons is None else tuple(buttons)
        text = self._with_mentions(row.key, text) if row is not None else text

        async def send() -> None:
            await self._edit(target, ref, row, text, shown)

        await self.throttle.update(ref, send)

    async def thread_context(self, channel: str, thread: str, before: str, limit: int) -> list[Turn]:
        if limit <= 0 or translate.parse_slash_thread(thread) is not None:
            return []
        if thread == channel or channel in self._dm_channels:
            target: str | None = channel
        else:
            target = self.ledger.thread_target(PLATFORM, channel, thread)
            if target == channel:  # answered as replies in the channel: no thread to read
                target = None
        if target is None or not target.isdigit():
            return []
        await self._logged_in.wait()
        data = await self.client.http.logs_from(
            int(target), min(100, limit * 4), before=int(before) if before.isdigit() else None
        )
        messages = [m for m in data if isinstance(m, dict)]
        bot_refs = [str(m.get("id")) for m in messages if str((m.get("author") or {}).get("id")) == self.bot_id]
        kinds = self.ledger.kinds(PLATFORM, bot_refs)
        turns = translate.turns_from_history(messages, before, self.bot_id, kinds)  # type: ignore[arg-type]
        return turns[-limit:]

    # ---------------------------------------------------------------- cases: names, not ids
    def _escalation(self, key: str) -> Escalation | None:
        """The case a card, reminder or resolution key is about (None for any other post)."""
        m = _CASE_KEY.match(key)
        if m is None:
            return None
        try:
            esc = self.bot.store.get_escalation(int(m["case"]))
        except StoreError:
            return None
        return esc if esc is not None and esc.platform == PLATFORM else None

    def _with_mentions(self, key: str, text: str, esc: Escalation | None = None) -> str:
        """A case's post names its people and channel as mentions (`<@id>`, `<#id>`), not raw ids."""
        esc = esc or self._escalation(key)
        if esc is None:
            return text
        users = [esc.user] + ([esc.resolution.reviewer] if esc.resolution is not None else [])
        return translate.mention_ids(text, users, [esc.channel], self._dm_channels)

    async def _title_case_thread(self, esc: Escalation) -> None:
        """The asker's thread of an escalated request is titled by its case ("SO8T case #12 — HR review"),
        never by the request's text: set before the thread is started, or renamed if it already was
        (a busy notice, a streamed answer that failed, a refusal now appealed)."""
        if esc.channel in self._dm_channels or esc.thread == esc.channel:
            return  # a DM has no threads; a message inside a thread keeps that thread's title
        title = translate.case_thread_name(esc.id, esc.domain, esc.lang)
        known = self.ledger.thread_target(PLATFORM, esc.channel, esc.thread)
        if known is None:
            self._titles[(esc.channel, esc.thread)] = title
            return
        if known == esc.channel or not known.isdigit():
            return  # answered as replies in the channel: there is no thread
        try:
            await self.client.http.edit_channel(int(known), name=title)
        except discord.HTTPException as exc:
            log.info("could not retitle thread %s of case #%s (HTTP %s)", known, esc.id, exc.status)

    # ---------------------------------------------------------------- posting
    async def _thread_target(self, channel: str, thread: str) -> tuple[str, str | None]:
        """Where a reply goes: (channel id to post in, message id to reply to or None)."""
        if thread == channel:
            return channel, None
        known = self.ledger.thread_target(PLATFORM, channel, thread)
        if known is not None:
            return (known, None) if known != channel else (channel, thread)
        if channel in self._dm_channels or not (channel.isdigit() and thread.isdigit()):
            return channel, thread if thread.isdigit() else None
        name = self._titles.pop((channel, thread), "SO8T")
        try:
            created = await self.client.http.start_thread_with_message(
                int(channel),
                int(thread),
                name=name,
                auto_archive_duration=self.settings.thread_archive_minutes,  # type: ignore[arg-type]
            )
            target = str(created["id"])
        except discord.HTTPException as exc:
            if exc.code == _THREAD_EXISTS:
                target = thread  # a thread started from a message has the message's id
            elif exc.status in (400, 403):  # no permission, or a channel type without threads
                log.info("cannot start a thread in %s (code %s): replying in the channel", channel, exc.code)
                self.ledger.join_thread(PLATFORM, channel, thread, channel)
                return channel, thread
            else:
                raise
        self.ledger.join_thread(PLATFORM, channel, thread, target)
        return target, None

    async def _send(
        self,
        target: str,
        thread: str | None,
        text: str,
        key: str,
        buttons: tuple[Button, ...],
        kind: str,
        reference: str | None,
    ) -> str:
        dest = self.client.get_partial_messageable(int(target))
        first = ""
        for i, piece in enumerate(split_text(text, translate.MESSAGE_LIMIT)):
            part_key = key if i == 0 else f"{key}#{i + 1}"
            prev = self.ledger.get(PLATFORM, part_key)
            if prev is not None:
                first = first or prev.ref
                continue
            kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
            if i == 0 and buttons:
                kwargs["view"] = card_view(buttons)
            if i == 0 and reference:
                kwargs["reference"] = discord.MessageReference(
                    message_id=int(reference), channel_id=int(target), fail_if_not_exists=False
                )
            sent = await dest.send(piece or "\u200b", **kwargs)
            ref = str(sent.id)
            btns = buttons if i == 0 else ()
            self.ledger.put(PLATFORM, Posted(part_key, ref, target, thread, kind, buttons_to_json(btns)))
            self.throttle.touched(ref)
            first = first or ref
        return first

    async def _edit(
        self, target: str, ref: str, row: Posted | None, text: str, buttons: tuple[Button, ...] | None
    ) -> None:
        pieces = split_text(text, translate.MESSAGE_LIMIT)
        dest = self.client.get_partial_messageable(int(target))
        kwargs: dict[str, Any] = {"content": pieces[0] or "\u200b", "allowed_mentions": discord.AllowedMentions.none()}
        if buttons is not None:
            kwargs["view"] = card_view(buttons) if buttons else None
        await dest.get_partial_message(int(ref)).edit(**kwargs)
        if len(pieces) == 1 or row is None:
            return
        parts = self.ledger.parts(PLATFORM, row.key)
        for i, piece in enumerate(pieces[1:]):
            if i < len(parts):
                await dest.get_partial_message(int(parts[i])).edit(
                    content=piece, allowed_mentions=discord.AllowedMentions.none()
                )
            else:
                await self._send(target, row.thread, piece, f"{row.key}#{i + 2}", (), row.kind, None)

    async def _reply_command(
        self, channel: str, slash: translate.SlashThread, text: str, key: str, file: discord.File | None = None
    ) -> str:
        """A /so8t answer: ephemeral follow-up of the deferred interaction (a DM after a restart), with
        `file` attached when given (a report's, from reply_file)."""
        summary = text
        if len(text) > translate.MESSAGE_LIMIT - 100:
            cut = text[: translate.MESSAGE_LIMIT - 100].rsplit("\n", 1)[0]
            summary = cut + "\n… (cut; narrow it with since)"
        interaction = self._interactions.get(slash.interaction)  # kept until sent: a refused file falls back
        ref = f"interaction:{slash.interaction}"
        if interaction is not None:
            kwargs: dict[str, Any] = {"ephemeral": True, "allowed_mentions": discord.AllowedMentions.none()}
            if file is not None:
                kwargs["file"] = file
            await interaction.followup.send(summary, **kwargs)
        else:
            dm = await self.client.http.start_private_message(int(slash.user))
            dest = self.client.get_partial_messageable(int(dm["id"]))
            await dest.send(summary, file=file) if file is not None else await dest.send(summary)
        self._interactions.pop(slash.interaction, None)
        self.ledger.put(PLATFORM, Posted(key, ref, channel, None, "command", "[]"))
        return ref


class _CheckedWebhooks(AsyncWebhookAdapter):
    """discord.py's webhook requests (interaction callbacks, follow-ups) through DiscordAdapter._checked."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        super().__init__()
        self.adapter = adapter

    async def request(self, route: discord.http.Route, session: aiohttp.ClientSession, **kwargs: Any) -> Any:
        return await self.adapter._checked(route, super().request(route, session, **kwargs))


def create(
    config: Config,
    bot: Bot,
    env: Mapping[str, str] | None = None,
    *,
    gateway: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> DiscordAdapter:
    """Build the Discord adapter from env (DISCORD_*) and register it with the bot as `discord`."""
    settings = settings_from_env(os.environ if env is None else env, config)
    adapter = DiscordAdapter(bot, settings, Ledger(bot.settings.db_path), gateway=gateway, clock=clock, sleep=sleep)
    bot.adapters[PLATFORM] = adapter
    return adapter
