"""The one place that wires everything: store, runtime, policy, templates, adapters, web server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from adapters.console.adapter import ConsoleAdapter, default_channels
from adapters.console.workspace import Workspace
from adapters.platforms import PlatformAdapter, create_platforms
from bot.config import Config
from bot.core import Bot
from bot.ports import Adapter
from bot.replies import Replies
from bot.reports import served_versions
from bot.settings import BotSettings, load_settings
from bot.store import AuditStore, describe_target, kb_path
from runtime.base import Runtime
from serve.http import ops_routes
from serve.jobs import JobContext, make_jobs
from serve.ops_settings import OpsSettings, load_ops_settings
from serve.replicas import LED, Replicas
from serve.scheduler import Scheduler

log = logging.getLogger("so8t.app")


@dataclass
class App:
    config: Config
    settings: BotSettings
    store: AuditStore
    bot: Bot
    console: ConsoleAdapter
    runtime: Runtime
    runner: web.AppRunner | None = None
    port: int = 0
    host: str = "127.0.0.1"
    platforms: list[PlatformAdapter] = field(default_factory=list)
    console_enabled: bool = True
    scheduler: Scheduler | None = None  # the weekly jobs (runs inside `so8t serve`)
    replicas: Replicas | None = None  # on PostgreSQL: leases, takeover, the led platforms (serve/replicas.py)
    _closed: bool = field(default=False, repr=False)

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        if self.console_enabled:
            app.add_routes(self.console.routes())
        app.add_routes(ops_routes(self.bot))
        for platform in self.platforms:
            app.add_routes(platform.routes())  # Slack over HTTP: /slack/events
        return app

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Start the bot (recovering unfinished events) and the web server; returns the bound port."""
        self.host = host or self.settings.console.host
        await self.bot.start()
        self.runner = web.AppRunner(self.web_app(), access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(
            self.runner, self.host, self.settings.console.port if port is None else port, reuse_address=True
        )
        await site.start()
        addresses = self.runner.addresses
        self.port = int(addresses[0][1]) if addresses else 0
        if self.console_enabled:
            self.bot.console_url = self.url  # `/so8t report` links to the console's report page
        led = [p for p in self.platforms if self.store.is_postgres and p.platform in LED]
        for platform in self.platforms:
            if platform not in led:
                await platform.start()
        if self.store.is_postgres:
            self.replicas = Replicas(self.store, self.bot.recover, led)
            await self.replicas.tick()  # leads (or not) before the start returns
            self.replicas.start()
        if self.scheduler is not None:
            self.scheduler.start()  # also catches up a run missed while stopped (once)
        return self.port

    async def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.replicas is not None:
            await self.replicas.stop()  # stops renewing and the led platforms it started
        for platform in reversed(self.platforms):
            if self.replicas is None or platform not in self.replicas.led:
                await platform.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.bot.stop()
        if self.replicas is not None:
            # only now that this replica answers nothing more: another takes its unfinished events
            await self.replicas.release()
        self.console.workspace.close()
        self.store.close()


def build_app(
    config: Config,
    runtime: Runtime | None = None,
    *,
    db_path: str | None = None,
    clock: Callable[[], float] = time.time,
    settings: BotSettings | None = None,
    replies: Replies | None = None,
    env: Mapping[str, str] | None = None,
    platforms: bool = True,
    console: bool | None = None,
    jobs: bool = True,
    ops: OpsSettings | None = None,
) -> App:
    """Build (not start) the app. Loads the real runtime unless one is given (tests pass a fake).

    Slack / Discord start when their tokens are in `env` (default os.environ), all on this one
    Bot, runtime and store; the console web workspace is served when no platform is configured,
    or always with console=True.

    Raises bot.errors.ConfigError, bot.errors.StoreError or runtime.errors.RuntimeLoadError,
    each with a one-line message.
    """
    settings = settings or load_settings(config, db_path)
    ops = ops or load_ops_settings(config)
    store = AuditStore(settings.db_path, lease_s=settings.lease_s)
    if store.audit_key is None:
        log.warning(
            "SO8T_AUDIT_KEY is not set: the audit chain is an unkeyed hash (anyone who can write %s can "
            "rewrite it undetected) and no checkpoints are signed; set it (see .env.example)",
            describe_target(settings.db_path),
        )
    try:
        if runtime is None:
            from runtime.loader import load_runtime  # lazy: the model loads only when serving for real

            runtime = load_runtime(config.model)
        workspace = Workspace(settings.db_path, clock)
    except BaseException:
        store.close()
        raise
    extra = list(settings.escalation.channels.get("console", {}).values())
    console_adapter = ConsoleAdapter(workspace, default_channels(extra), clock)
    adapters: dict[str, Adapter] = {"console": console_adapter}
    bot = Bot(store, runtime, adapters, settings, replies, clock)
    console_adapter.bot = bot
    try:
        plats = create_platforms(config, bot, env) if platforms else []
    except BaseException:
        workspace.close()
        store.close()
        raise
    console_on = console if console is not None else not plats
    scheduler = None
    if jobs:
        ctx = job_context(config, settings, ops, store, bot.adapters, runtime)
        scheduler = Scheduler(store, ops.schedule, make_jobs(ctx), clock)
        bot.jobs_status = scheduler.status
    bot.report_timezone = ops.reports.timezone
    bot.timezone = ops.schedule.timezone
    bot.knowledge = config.knowledge.folders
    if "knowledge" not in config.raw and plats:
        bot.knowledge = ()  # the sample handbook is the console demo's: a team's Slack or Discord names its own
    if bot.knowledge:  # the team's documents, indexed into the store (incremental; never fails the start)
        from kb import ensure_index

        ensure_index(str(kb_path(settings.db_path)), bot.knowledge)
    bot.versions = job_context(config, settings, ops, store, bot.adapters, runtime).versions
    return App(
        config,
        settings,
        store,
        bot,
        console_adapter,
        runtime,
        platforms=plats,
        console_enabled=console_on,
        scheduler=scheduler,
    )


def job_context(
    config: Config,
    settings: BotSettings,
    ops: OpsSettings,
    store: AuditStore,
    adapters: Mapping[str, Any],
    runtime: Runtime | None = None,
) -> JobContext:
    """What the scheduled jobs need; `adapters` is the bot's live dict (platforms register into it)."""

    def versions() -> dict[str, Any]:
        """What the runtime serves (its ids and info()), never the config's spelling of it: an adapter
        taken from the backbone's manifest is not in the config, and a head unset there is still served."""
        if runtime is None:
            return {}
        return served_versions(runtime)

    return JobContext(store, config, settings, ops, adapters, versions)


async def serve_forever(
    app: App,
    host: str | None,
    port: int | None,
    ready: Callable[[App], Any] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until `stop` is set (SIGINT/SIGTERM) or the task is cancelled. `stop` also ends a start still
    under way (a platform waiting for Slack or Discord to answer); a start that fails raises its error.
    Either way the app is stopped (what did start is shut down)."""
    stop = stop or asyncio.Event()

    async def start() -> None:
        await app.start(host, port)
        if ready is not None:
            ready(app)  # at once, in the same step as the start's end

    starting = asyncio.ensure_future(start())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # stopped while starting
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return
        starting.result()  # a failed start raises here
        await stopping
    finally:
        starting.cancel()
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await starting  # already raised above when it failed
        await app.stop()
