"""Bot: dedupe -> policy -> thread context -> decide -> audit -> route, exactly once across restarts.

Adapters call `receive` (messages) and `receive_action` (button clicks); both store the event as
received before any work and return at once; the model runs on the worker behind a fair queue.
Every post carries a key derived from the event, so finishing a half-done event after a crash
never posts twice. Logs never carry message text.

This module is the Bot's intake, worker and lifecycle; the work itself is in bot/pipeline.py (one
message: decide, audit, answer / refuse / escalate), bot/review.py (cards, resolutions, appeals,
reminders), bot/handlers.py (the `/so8t` commands, by name) and bot/status.py (status and health).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from bot import commands
from bot.config import KnowledgeFolder
from bot.errors import StoreError
from bot.escalations import Escalations
from bot.events import ActionEvent, ActionResult, Dialog, Message
from bot.handlers import run_command
from bot.metrics import BotMetrics, Gauge
from bot.pipeline import Pipeline
from bot.policy import FairQueue, Policy, QueueFull
from bot.ports import Adapter
from bot.replies import Replies
from bot.review import Review
from bot.settings import BotSettings
from bot.status import health as health_facts
from bot.status import status as status_facts
from bot.store import AuditStore
from bot.worker import ModelWorker
from runtime.answer_guard import OUTCOMES
from runtime.base import Runtime
from runtime.lang import detect_lang

log = logging.getLogger("so8t.bot")


class Bot:
    """The chat-ops core: one per process, shared by every adapter (see the module docstring)."""

    def __init__(
        self,
        store: AuditStore,
        runtime: Runtime,
        adapters: dict[str, Adapter],
        settings: BotSettings,
        replies: Replies | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.adapters = adapters
        self.settings = settings
        self.replies = replies or Replies()
        self.clock = clock
        self.policy = Policy(settings.policy, clock)
        self.queue: FairQueue[Message] = FairQueue(settings.policy.queue)
        self.model = ModelWorker(runtime)
        self.escalations = Escalations(store, settings.escalation, settings.roles, clock)
        self.metrics = BotMetrics()
        self.on_finished: list[Callable[[str, str, str], None]] = []  # (platform, event_id, state)
        self.timezone = "UTC"  # deadlines on cards and notices (build_app sets schedule.timezone)
        self.report_timezone = "UTC"  # weeks in `/so8t report --week` (build_app sets reports.timezone)
        self.versions: Callable[[], dict[str, Any]] = dict  # model / head / adapter for reports
        self.knowledge: tuple[KnowledgeFolder, ...] = ()  # the team's documents answers cite (build_app sets them)
        self.console_url = ""  # the console's address while it is served (report links); App.start sets it
        self.jobs_status: Callable[[], list[dict[str, Any]]] | None = None  # the scheduler's, when running
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._received_at: dict[tuple[str, str], float] = {}
        self._worker: asyncio.Task[None] | None = None
        self._reminders: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.started = False
        self.pipeline = Pipeline(self)
        self.review = Review(self)
        m = self.metrics
        for outcome in OUTCOMES:
            m.answers.inc(outcome, by=0)  # every outcome is on /metrics from the start (rates need a zero)
        m.registry.add(Gauge("so8t_queue_depth", "Requests waiting for the model", lambda: {(): len(self.queue)}))
        m.registry.add(Gauge("so8t_inflight", "Events received and not finished", lambda: {(): self._inflight}))
        m.registry.add(
            Gauge(
                "so8t_escalations_open",
                "Open escalations by domain",
                lambda: {(d,): n for d, n in store.escalation_counts().items()},
                ("domain",),
            )
        )

    # ------------------------------------------------------------------ lifecycle
    async def start(self, reminders: bool = True) -> int:
        """Start the worker, finish the events a crash left behind; returns how many were recovered."""
        self._worker = asyncio.create_task(self._work(), name="so8t-worker")
        recovered = await self.recover()
        if reminders:
            self._reminders = asyncio.create_task(self.review.remind_loop(self._stopping), name="so8t-reminders")
        self.started = True
        return recovered

    async def stop(self) -> None:
        self._stopping.set()
        for task in (self._worker, self._reminders, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._worker, self._reminders, *list(self._tasks)):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.started = False

    async def recover(self) -> int:
        pending = self.store.pending_events()
        for kind, payload in pending:
            self._begin(str(payload.get("platform")), str(payload.get("event_id")))
            if kind == "action":
                self.spawn(self.review.finish_action(ActionEvent.from_dict(payload)))
                continue
            msg = Message.from_dict(payload)
            if commands.is_command(msg.text):
                self.spawn(run_command(self, msg))
            else:
                await self.queue.put(f"{msg.platform}:{msg.user}", msg, force=True)
        if pending:
            log.info("recovered %d unfinished event(s) from the store", len(pending))
        return len(pending)

    async def wait_idle(self) -> None:
        """Until every received event is finished (tests and the load bench wait on this, never sleep)."""
        await self._idle.wait()

    def spawn(self, coro: Any) -> None:
        """Run `coro` in the background; stop() cancels it."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _begin(self, platform: str, event_id: str) -> None:
        self._inflight += 1
        self._idle.clear()
        self._received_at[(platform, event_id)] = time.perf_counter()

    def abandon(self, platform: str, event_id: str) -> None:
        """Stop tracking an event that failed midway: it stays 'received' and is finished on restart."""
        if self._received_at.pop((platform, event_id), None) is not None:
            self._inflight = max(0, self._inflight - 1)
            if self._inflight == 0:
                self._idle.set()

    def finish(self, platform: str, event_id: str, state: str) -> None:
        """Mark an event finished in the store (`state`), count it, and tell the on_finished listeners."""
        try:
            self.store.finish_event(platform, event_id, state, self.clock())
        except StoreError as exc:
            log.error("could not mark event finished: %s", exc)
            self.metrics.errors.inc("store")
        started = self._received_at.pop((platform, event_id), None)
        if started is not None:
            self.metrics.handle_s.observe(time.perf_counter() - started)
            self._inflight -= 1
            if self._inflight <= 0:
                self._inflight = 0
                self._idle.set()
        self.metrics.events.inc(state)
        for cb in self.on_finished:
            cb(platform, event_id, state)

    # ------------------------------------------------------------------ intake
    async def receive(self, msg: Message) -> Literal["accepted", "duplicate"]:
        """Store, then admit (policy, queue). Returns at once; raises StoreError when nothing was stored."""
        if not self.store.record_event(msg.platform, msg.event_id, "message", msg.to_dict(), self.clock()):
            self.metrics.events.inc("duplicate")
            return "duplicate"
        self._begin(msg.platform, msg.event_id)
        try:
            await self._admit(msg)
        except Exception:  # noqa: BLE001 - the event stays pending and is finished on restart
            log.exception("admitting event %s failed", msg.event_id)
            self.metrics.errors.inc("admit")
            self.abandon(msg.platform, msg.event_id)
        return "accepted"

    async def _admit(self, msg: Message) -> None:
        if commands.is_command(msg.text):
            self.spawn(run_command(self, msg))
            return
        lang = detect_lang(msg.text)
        verdict = self.policy.check(msg.platform, msg.channel, msg.user)
        if verdict.outcome == "ignored":
            self.finish(msg.platform, msg.event_id, "ignored")
            return
        adapter = self.adapters[msg.platform]
        if verdict.outcome == "rate_limited":
            text = self.replies.render("rate_limited", lang, seconds=max(1, round(verdict.retry_after_s)))
            await adapter.reply(msg.channel, msg.thread, text, key=f"reply:{msg.event_id}", kind="notice")
            self.finish(msg.platform, msg.event_id, "rate_limited")
            return
        if not msg.text.strip():
            text = self.replies.render("empty", lang)
            await adapter.reply(msg.channel, msg.thread, text, key=f"reply:{msg.event_id}", kind="notice")
            self.finish(msg.platform, msg.event_id, "done")
            return
        try:
            ahead = await self.queue.put(f"{msg.platform}:{msg.user}", msg)
        except QueueFull:
            text = self.replies.render("queue_full", lang)
            await adapter.reply(msg.channel, msg.thread, text, key=f"reply:{msg.event_id}", kind="notice")
            self.finish(msg.platform, msg.event_id, "rejected")
            return
        busy_after = self.settings.policy.queue.busy_notice_after
        if busy_after and ahead >= busy_after:
            text = self.replies.render("busy", lang, ahead=ahead)
            await adapter.reply(msg.channel, msg.thread, text, key=f"busy:{msg.event_id}", kind="notice")

    async def receive_action(self, ev: ActionEvent) -> ActionResult:
        """A click: checked at once (role, state) and answered; slow follow-up work runs in the background."""
        if not self.store.record_event(ev.platform, ev.event_id, "action", ev.to_dict(), self.clock()):
            self.metrics.events.inc("duplicate")
            return ActionResult(True, "duplicate")
        self._begin(ev.platform, ev.event_id)
        return await self.review.finish_action(ev)

    def resolve_refusal(self, platform: str, user: str, value: str, roles: tuple[str, ...] = ()) -> str | None:
        """Why `user` may not resolve case `value` (a line in the case's language), or None when they may:
        checked before an Answer or Decline dialog opens, so that only the domain's reviewers see one."""
        return self.review.refusal(platform, user, value, roles)

    def resolve_dialog(self, platform: str, user: str, action: str, value: str) -> Dialog:
        """The title, field label and button texts of the Answer / Decline dialog for case `value`, in the
        case's language (the clicker's last language when there is no such case)."""
        return self.review.dialog(platform, user, action, value)

    # ------------------------------------------------------------------ the worker
    async def _work(self) -> None:
        while True:
            msg = await self.queue.get()
            try:
                state = await self.handle(msg)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - never lose the worker; the event stays pending
                log.exception("handling event %s failed; it is finished on the next start", msg.event_id)
                self.metrics.errors.inc("handle")
                self.abandon(msg.platform, msg.event_id)
                continue
            self.finish(msg.platform, msg.event_id, state)

    async def handle(self, msg: Message) -> str:
        """Decide, audit, route one admitted message; returns the event's final state (bot/pipeline.py)."""
        return await self.pipeline.handle(msg)

    async def check_deadlines(self, now: float | None = None) -> int:
        """Post a reminder for every open escalation past its deadline (once each; bot/review.py)."""
        return await self.review.check_deadlines(now)

    # ------------------------------------------------------------------ operations
    def status(self) -> dict[str, Any]:
        """The facts `/so8t status` shows (bot/status.py)."""
        return status_facts(self)

    def health(self) -> dict[str, Any]:
        """`/healthz` (bot/status.py)."""
        return health_facts(self)
