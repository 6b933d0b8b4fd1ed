"""Bot: dedupe -> policy -> thread context -> decide -> audit -> route, exactly once across restarts.

Adapters call `receive` (messages) and `receive_action` (button clicks); both store the event as
received before any work and return at once; the model runs on the worker behind a fair queue.
Every post carries a key derived from the event, so finishing a half-done event after a crash
never posts twice. Logs never carry message text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot import commands
from bot.audit import AuditStore, DecisionRecord
from bot.config import KnowledgeFolder
from bot.errors import StoreError
from bot.escalations import Escalations, format_deadline
from bot.events import ActionEvent, ActionResult, Button, Escalation, Message
from bot.metrics import Counter, Gauge, Histogram, Registry
from bot.pii import mask
from bot.policy import FairQueue, Policy, QueueFull
from bot.ports import Adapter
from bot.replies import Replies
from bot.reports import (
    build_report,
    render_markdown,
    report_cli_args,
    report_filename,
    report_query,
    summary_facts,
    week_range,
)
from bot.settings import BotSettings
from bot.worker import ModelSession, ModelWorker
from kb import Passage
from kb import relevant as kb_relevant
from kb import render as render_passages
from kb import retrieve as kb_retrieve
from kb import sources as kb_sources
from runtime.answer_guard import OUTCOMES, AnswerGuard
from runtime.base import Decision, Runtime, Turn
from runtime.hazards import SUPPORT_DOMAIN, hazard_label
from runtime.lang import detect_lang
from runtime.response import ResponseVerdict

log = logging.getLogger("so8t.bot")
_QUOTE_MARK = re.compile(r"(?m)^[ \t]*>[ \t]?")

CARD_BUTTONS = (
    ("approve", "Approve", "primary"),
    ("decline", "Decline", "danger"),
    ("answer", "Answer", "default"),
)


class AnswerFailed(Exception):
    """The runtime failed while writing an ALLOW answer (the decision is already audited)."""


@dataclass
class BotMetrics:
    registry: Registry = field(default_factory=Registry)
    events: Counter = field(
        default_factory=lambda: Counter("so8t_events_total", "Events received by outcome", ("outcome",))
    )
    decisions: Counter = field(
        default_factory=lambda: Counter(
            "so8t_decisions_total", "Safety decisions by verdict and category", ("verdict", "category")
        )
    )
    opened: Counter = field(
        default_factory=lambda: Counter("so8t_escalations_opened_total", "Escalations opened", ("domain", "kind"))
    )
    resolved: Counter = field(
        default_factory=lambda: Counter("so8t_escalations_resolved_total", "Escalations resolved", ("domain", "action"))
    )
    errors: Counter = field(
        default_factory=lambda: Counter("so8t_errors_total", "Failures handled (fail closed)", ("kind",))
    )
    answers: Counter = field(
        default_factory=lambda: Counter(
            "so8t_answers_total", "ALLOW answers by what the answer guard did (ok, cut, fallback)", ("outcome",)
        )
    )
    response_stops: Counter = field(
        default_factory=lambda: Counter(
            "so8t_response_stops_total", "ALLOW answers stopped by the response head", ("verdict", "category")
        )
    )
    decide_s: Histogram = field(default_factory=lambda: Histogram("so8t_decide_seconds", "Safety decision latency"))
    answer_s: Histogram = field(default_factory=lambda: Histogram("so8t_answer_seconds", "Answer generation latency"))
    handle_s: Histogram = field(
        default_factory=lambda: Histogram("so8t_handle_seconds", "Received to finished, per message")
    )


class Bot:
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
        m = self.metrics
        for item in (
            m.events,
            m.decisions,
            m.opened,
            m.resolved,
            m.errors,
            m.answers,
            m.response_stops,
            m.decide_s,
            m.answer_s,
            m.handle_s,
        ):
            m.registry.add(item)
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
            self._reminders = asyncio.create_task(self._remind_loop(), name="so8t-reminders")
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
                self._spawn(self._finish_action(ActionEvent.from_dict(payload)))
                continue
            msg = Message.from_dict(payload)
            if commands.is_command(msg.text):
                self._spawn(self._run_command(msg))
            else:
                await self.queue.put(f"{msg.platform}:{msg.user}", msg, force=True)
        if pending:
            log.info("recovered %d unfinished event(s) from the store", len(pending))
        return len(pending)

    async def wait_idle(self) -> None:
        """Until every received event is finished (tests and the load bench wait on this, never sleep)."""
        await self._idle.wait()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _begin(self, platform: str, event_id: str) -> None:
        self._inflight += 1
        self._idle.clear()
        self._received_at[(platform, event_id)] = time.perf_counter()

    def _abandon(self, platform: str, event_id: str) -> None:
        """Stop tracking an event that failed midway: it stays 'received' and is finished on restart."""
        if self._received_at.pop((platform, event_id), None) is not None:
            self._inflight = max(0, self._inflight - 1)
            if self._inflight == 0:
                self._idle.set()

    def _finish(self, platform: str, event_id: str, state: str) -> None:
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
            self._abandon(msg.platform, msg.event_id)
        return "accepted"

    async def _admit(self, msg: Message) -> None:
        if commands.is_command(msg.text):
            self._spawn(self._run_command(msg))
            return
        lang = detect_lang(msg.text)
        verdict = self.policy.check(msg.platform, msg.channel, msg.user)
        if verdict.outcome == "ignored":
            self._finish(msg.platform, msg.event_id, "ignored")
            return
        adapter = self.adapters[msg.platform]
        if verdict.outcome == "rate_limited":
            text = self.replies.render("rate_limited", lang, seconds=max(1, round(verdict.retry_after_s)))
            await adapter.reply(msg.channel, msg.thread, text, key=f"reply:{msg.event_id}", kind="notice")
            self._finish(msg.platform, msg.event_id, "rate_limited")
            return
        if not msg.text.strip():
            text = self.replies.render("empty", lang)
            await adapter.reply(msg.channel, msg.thread, text, key=f"reply:{msg.event_id}", kind="notice")
            self._finish(msg.platform, msg.event_id, "done")
            return
        try:
            ahead = await self.queue.put(f"{msg.platform}:{msg.user}", msg)
        except QueueFull:
            text = self.replies.render("queue_full", lang)
            await adapter.reply(msg.channel, msg.thread, text, key=f"reply:{msg.event_id}", kind="notice")
            self._finish(msg.platform, msg.event_id, "rejected")
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
        return await self._finish_action(ev)

    def resolve_refusal(self, platform: str, user: str, value: str, roles: tuple[str, ...] = ()) -> str | None:
        """Why `user` may not resolve case `value` (a line in the case's language), or None when they may:
        checked before an Answer or Decline dialog opens, so that only the domain's reviewers see one."""
        esc = self.store.get_escalation(int(value)) if value.isdigit() else None
        if esc is None:
            return self.replies.render("not_found", "en", esc_id=value)
        if not self.escalations.may_resolve(platform, user, esc, roles):
            return self.replies.render("not_reviewer", esc.lang, domain=esc.domain, esc_id=esc.id, user=user)
        return None

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
                self._abandon(msg.platform, msg.event_id)
                continue
            self._finish(msg.platform, msg.event_id, state)

    async def handle(self, msg: Message) -> str:
        """Decide, audit, route one admitted message; returns the event's final state."""
        adapter = self.adapters[msg.platform]
        existing = self.store.decision_for_event(msg.platform, msg.event_id)
        context = await self._context(adapter, msg)
        masked = mask(msg.text).text
        answer_failed = False
        stopped: ResponseVerdict | None = None
        async with self.model.hold() as model:
            t0 = time.perf_counter()
            try:
                decision = await model.decide(context, msg.text)
            except Exception as exc:  # noqa: BLE001 - fail closed
                log.warning("runtime error in decide (%s): escalating", type(exc).__name__)
                self.metrics.errors.inc("runtime")
                decision = self._runtime_error_decision(msg.text)
            latency_ms = (time.perf_counter() - t0) * 1000.0
            if existing is not None:
                decision_id, decision = existing  # finishing after a crash: the audited verdict stands
            else:
                self.metrics.decide_s.observe(latency_ms / 1000.0)
                try:
                    decision_id = self.store.append_decision(self._record(msg, decision, latency_ms, masked))
                except StoreError as exc:
                    log.error("not acting on event %s: %s", msg.event_id, exc)
                    self.metrics.errors.inc("store")
                    await adapter.reply(
                        msg.channel,
                        msg.thread,
                        self.replies.render("store_error", decision.lang),
                        key=f"reply:{msg.event_id}",
                        kind="notice",
                    )
                    return "failed"
                self.metrics.decisions.inc(decision.decision, decision.category)
            log.info(
                "event %s: %s/%s (%.0f ms, %s)",
                msg.event_id,
                decision.decision,
                decision.category,
                latency_ms,
                decision.reason,
            )
            if decision.decision == "ALLOW" and decision.reason != "runtime_error":
                try:
                    stopped = await self._stream_answer(model, adapter, msg, context, decision, decision_id)
                except AnswerFailed:
                    answer_failed = True
        lang = decision.lang
        if answer_failed:
            await self._escalate("runtime_error", decision_id, decision, msg, masked, msg.text)
        elif stopped is not None:
            await self._response_stopped(stopped, decision_id, decision, msg, masked)
        elif decision.decision == "REFUSE":
            text = self.replies.render(
                "refuse",
                lang,
                category=hazard_label(decision.category, lang),
                rationale=decision.rationale,
                decision_id=decision_id,
            )
            label = "Ask for human review" if lang == "en" else "人による確認を依頼"
            await adapter.reply(
                msg.channel,
                msg.thread,
                text,
                key=f"reply:{msg.event_id}",
                buttons=(Button("appeal", label, str(decision_id)),),
            )
        elif decision.decision == "ESCALATE":
            kind: Literal["escalate", "runtime_error"] = (
                "runtime_error" if decision.reason == "runtime_error" else "escalate"
            )
            await self._escalate(kind, decision_id, decision, msg, masked, msg.text)
        return "done"

    def _record(self, msg: Message, decision: Decision, latency_ms: float, masked: str) -> DecisionRecord:
        """What the audit keeps of a verdict on this message: the masked text and its keyed hash."""
        return DecisionRecord(
            ts=self.clock(),
            platform=msg.platform,
            channel=msg.channel,
            thread=msg.thread,
            user=msg.user,
            event_id=msg.event_id,
            decision=decision,
            latency_ms=latency_ms,
            text_masked=masked,
            text_sha256=self.store.text_hash(msg.text),
        )

    def _runtime_error_decision(self, text: str) -> Decision:
        return Decision(
            decision="ESCALATE",
            category="none",
            confidence=0.0,
            probs={},
            rationale="runtime error",
            human_required=True,
            lang=detect_lang(text),
            reason="runtime_error",
            domain=self.settings.escalation.fallback_domain,
            model_id=getattr(self.runtime, "model_id", ""),
            head_id=getattr(self.runtime, "head_id", ""),
        )

    async def _context(self, adapter: Adapter, msg: Message) -> list[Turn]:
        turns = self.settings.policy.context_turns
        if not turns:
            return []
        try:
            raw = await adapter.thread_context(msg.channel, msg.thread, msg.message_id, turns)
        except Exception as exc:  # noqa: BLE001 - context is best effort
            log.warning("thread context unavailable (%s)", type(exc).__name__)
            return []
        return self.policy.bound_context(raw)

    async def _stream_answer(
        self,
        model: ModelSession,
        adapter: Adapter,
        msg: Message,
        context: Sequence[Turn],
        decision: Decision,
        decision_id: int,
    ) -> ResponseVerdict | None:
        """Stream the answer through the answer guard: a loop stops generation, and the last update posts
        what the guard kept (cut, marked when shortened) or the fallback reply: no degenerate answer stays up.
        Personal data in the answer is masked before each update is posted. Returns the response head's
        verdict when it stopped the answer (what was posted is then withdrawn), else None."""
        key = f"answer:{msg.event_id}"
        lang = decision.lang
        guard = AnswerGuard(lang, self.replies.render("answer_shortened", lang), request=msg.text)
        passages = await self._passages(msg)
        documents = render_passages(passages, lang) if passages else None
        ref: str | None = None
        posted = ""
        last = time.monotonic()
        t0 = time.perf_counter()
        try:
            async with contextlib.aclosing(model.answer(context, msg.text, documents=documents)) as pieces:
                async for piece in pieces:
                    if guard.feed(piece):
                        break  # closing the stream stops generation
                    text, now = self._postable(guard.visible, bool(passages)), time.monotonic()
                    if text and text != posted and (ref is None or now - last >= self.settings.stream_update_s):
                        if ref is None:
                            ref = await adapter.reply(msg.channel, msg.thread, text, key=key)
                        else:
                            await adapter.update(msg.channel, ref, text)
                        posted, last = text, now
        except Exception as exc:  # noqa: BLE001 - fail closed: a person follows up
            log.warning("runtime error in answer (%s): escalating", type(exc).__name__)
            self.metrics.errors.inc("runtime")
            raise AnswerFailed from exc
        self.metrics.answer_s.observe(time.perf_counter() - t0)
        verdict = model.response
        if model.finish_reason == "flagged" and verdict is not None and verdict.flagged:
            self.metrics.response_stops.inc(verdict.label, verdict.category)
            self._record_answer(decision_id, "response_flagged")
            log.info("event %s: answer stopped (%s/%s)", msg.event_id, verdict.label, verdict.category)
            if ref is not None:
                await adapter.update(msg.channel, ref, self.replies.render("answer_withdrawn", lang))
            return verdict
        result = guard.finish(budget_hit=model.finish_reason == "length")
        self.metrics.answers.inc(result.outcome)
        self._record_answer(decision_id, result.outcome)
        if result.outcome != "ok":
            log.info("event %s: answer guard: %s", msg.event_id, result.outcome)
        if result.fallback:
            final = self.replies.render("answer_fallback", lang)
        else:
            final = self._postable(result.text, bool(passages))
        if passages:  # the documents the answer was written from, numbered as the answer cites them
            final += "\n\n" + self.replies.render("answer_sources", lang, sources=kb_sources(passages))
        elif self.knowledge and not result.fallback:
            final += "\n\n" + self.replies.render("answer_no_document", lang)
        if ref is None:
            await adapter.reply(msg.channel, msg.thread, final, key=key)
        else:  # always: after a restart `ref` may be the message a crashed run left half-written
            await adapter.update(msg.channel, ref, final)
        return None

    async def _sources(self, channel: str) -> list[dict[str, Any]]:
        """The knowledge folders this channel's answers may cite, with what the index holds of each."""
        from kb import stats as kb_stats

        visible = [f for f in self.knowledge if f.visible_in(channel)]
        try:
            indexed = await asyncio.to_thread(kb_stats, self.store.path)
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

    @staticmethod
    def _postable(text: str, grounded: bool) -> str:
        """What may be posted of an answer: personal data masked; in a grounded answer, the "> " quote marks
        of the prompt's document block taken off the lines a small model copies from it."""
        if grounded:
            text = _QUOTE_MARK.sub("", text)
        return mask(text.strip()).text

    async def _passages(self, msg: Message) -> list[Passage]:
        """The team's passages for an ALLOWed request that this channel may see (kb/), [] when none is relevant.
        The verdict was made before and never reads them."""
        if not self.knowledge:
            return []
        try:
            found = await asyncio.to_thread(
                kb_retrieve, self.store.path, msg.text, msg.channel, 3, folders=self.knowledge
            )
        except Exception as exc:  # noqa: BLE001 - retrieval is best effort: the answer goes on without it
            log.warning("knowledge retrieval failed (%s): answering without documents", type(exc).__name__)
            return []
        return found if kb_relevant(found) else []

    def _record_answer(self, decision_id: int, outcome: str) -> None:
        """The answer's outcome for the weekly report; a store error is logged, the answer still goes out."""
        try:
            self.store.record_answer(decision_id, outcome, self.clock())
        except StoreError as exc:
            log.error("answer outcome of decision %s not recorded: %s", decision_id, exc)
            self.metrics.errors.inc("store")

    async def _response_stopped(
        self, verdict: ResponseVerdict, decision_id: int, decision: Decision, msg: Message, masked: str
    ) -> None:
        """The response head stopped an ALLOW answer: its verdict is audited beside the request's (a chained
        "response" row referring to it), then the asker gets a refusal (unsafe; appealable) or the case goes
        to the domain's reviewers (individual specialist advice), both with the reason response_flagged."""
        unsafe = verdict.label == "unsafe"
        lang = decision.lang
        stop = Decision(
            decision="REFUSE" if unsafe else "ESCALATE",
            category=verdict.category,
            confidence=verdict.p_unsafe if unsafe else verdict.p_escalate,
            probs={"unsafe": verdict.p_unsafe, "escalate": verdict.p_escalate},
            rationale=self.replies.render("response_rationale", lang, position=verdict.position),
            human_required=not unsafe,
            lang=lang,
            reason="response_flagged",
            domain=None if unsafe else verdict.category,
            model_id=decision.model_id,
            head_id=str(getattr(self.runtime, "response_head_id", None) or "response"),
        )
        stop_id = self.store.append_response(decision_id, self._record(msg, stop, 0.0, masked), verdict.as_dict())
        if not unsafe:
            await self._escalate("escalate", stop_id, stop, msg, masked, msg.text)
            return
        label = "Ask for human review" if lang == "en" else "人による確認を依頼"
        text = self.replies.render(
            "refuse", lang, category=hazard_label(stop.category, lang), rationale=stop.rationale, decision_id=stop_id
        )
        await self.adapters[msg.platform].reply(
            msg.channel, msg.thread, text, key=f"reply:{msg.event_id}", buttons=(Button("appeal", label, str(stop_id)),)
        )

    # ------------------------------------------------------------------ escalations
    async def _escalate(
        self,
        kind: Literal["escalate", "appeal", "runtime_error"],
        decision_id: int,
        decision: Decision,
        msg: Message,
        masked: str,
        request_text: str,
        notice_key: str | None = None,
    ) -> Escalation:
        esc = self.escalations.open(kind, decision_id, decision, msg, masked, request_text)
        self.metrics.opened.inc(esc.domain, kind)
        await self._post_card(esc)
        adapter = self.adapters[msg.platform]
        name = {"escalate": "escalated", "runtime_error": "runtime_error", "appeal": "appeal_opened"}[kind]
        if kind == "escalate" and esc.domain == SUPPORT_DOMAIN:
            name = "support"  # self-harm: support resources in the asker's language at once, a person follows up
        text = self.replies.render(
            name, esc.lang, domain=esc.domain, esc_id=esc.id, deadline=format_deadline(esc.deadline, self.timezone)
        )
        await adapter.reply(msg.channel, msg.thread, text, key=notice_key or f"reply:{msg.event_id}", kind="notice")
        return esc

    async def _post_card(self, esc: Escalation) -> None:
        adapter = self.adapters[esc.platform]
        channel = self.settings.escalation.channel_for(esc.platform, esc.domain)
        labels = {"escalate": "escalation", "appeal": "appeal", "runtime_error": "runtime error"}
        text = self.replies.render(
            "card",
            esc.lang,
            esc=esc,
            kind_label=labels[esc.kind],
            deadline=format_deadline(esc.deadline, self.timezone),
        )
        buttons = tuple(Button(a, label, str(esc.id), style) for a, label, style in CARD_BUTTONS)  # type: ignore[arg-type]
        ref = await adapter.post(channel, text, key=f"card:{esc.id}", buttons=buttons, kind="card")
        if esc.card_ref != ref:
            self.store.set_card(esc.id, channel, ref)

    async def check_deadlines(self, now: float | None = None) -> int:
        """Post a reminder for every open escalation past its deadline (once each)."""
        sent = 0
        for esc in self.escalations.due(now):
            adapter = self.adapters.get(esc.platform)
            if adapter is None:
                continue
            channel = esc.card_channel or self.settings.escalation.channel_for(esc.platform, esc.domain)
            text = self.replies.render(
                "reminder", esc.lang, esc=esc, deadline=format_deadline(esc.deadline, self.timezone)
            )
            if esc.card_ref:
                await adapter.reply(channel, esc.card_ref, text, key=f"reminder:{esc.id}", kind="notice")
            else:
                await adapter.post(channel, text, key=f"reminder:{esc.id}", kind="notice")
            self.store.mark_reminded(esc.id, self.clock() if now is None else now)
            sent += 1
        return sent

    async def _remind_loop(self) -> None:
        interval = self.settings.escalation.check_interval_s
        while not self._stopping.is_set():
            try:
                await self.check_deadlines()
            except Exception:  # noqa: BLE001 - keep reminding later
                log.exception("deadline check failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=interval)

    # ------------------------------------------------------------------ actions and resolutions
    async def _finish_action(self, ev: ActionEvent) -> ActionResult:
        try:
            if ev.action == "appeal":
                result = await self._appeal(
                    ev.platform,
                    ev.user,
                    ev.channel,
                    ev.thread,
                    int(ev.value) if ev.value.isdigit() else None,
                    ev.event_id,
                )
            else:
                esc_id = int(ev.value) if ev.value.isdigit() else -1
                result = await self._resolve(ev.platform, ev.user, esc_id, ev.action, ev.text, ev.event_id, ev.roles)
        except StoreError as exc:
            log.error("action %s failed: %s", ev.event_id, exc)
            self.metrics.errors.inc("store")
            self._finish(ev.platform, ev.event_id, "failed")
            return ActionResult(False, "the audit store is unavailable; try again shortly", 503)
        if result.ok and result.extra.get("followup") is not None:
            self._spawn(self._followup(ev, result.extra.pop("followup")))
        else:
            self._finish(ev.platform, ev.event_id, "done" if result.ok else "refused")
        return result

    async def _followup(self, ev: ActionEvent, esc: Escalation) -> None:
        try:
            await self._post_resolution(esc)
            state = "done"
        except Exception:  # noqa: BLE001 - left pending, finished on restart
            log.exception("posting resolution of case %s failed", esc.id)
            self.metrics.errors.inc("resolution")
            self._abandon(ev.platform, ev.event_id)
            return
        self._finish(ev.platform, ev.event_id, state)

    async def _resolve(
        self, platform: str, user: str, esc_id: int, action: str, text: str, event_id: str, roles: tuple[str, ...] = ()
    ) -> ActionResult:
        outcome = self.escalations.resolve(esc_id, action, platform, user, text, event_id, roles)
        esc = outcome.escalation
        lang = esc.lang if esc else "en"
        if outcome.status == "not_found":
            return ActionResult(False, self.replies.render("not_found", lang, esc_id=esc_id), 404)
        if outcome.status == "bad_action":
            return ActionResult(False, f"unknown action {action!r}: use approve, decline or answer", 400)
        assert esc is not None
        if outcome.status == "forbidden":
            log.info("user without the %s reviewer role tried to resolve case %s", esc.domain, esc.id)
            return ActionResult(
                False,
                self.replies.render("not_reviewer", lang, domain=esc.domain, esc_id=esc.id, user=user),
                403,
            )
        if outcome.status == "already":
            return ActionResult(False, self.replies.render("already_resolved", lang, esc=esc), 409)
        if outcome.status == "needs_text":
            return ActionResult(False, "an answer needs text", 400)
        self.metrics.resolved.inc(esc.domain, action)
        log.info("case %s resolved (%s)", esc.id, action)
        return ActionResult(
            True,
            self.replies.render("resolved_ok", lang, esc_id=esc.id, action=action),
            extra={"followup": esc, "escalation_id": esc.id},
        )

    async def _post_resolution(self, esc: Escalation) -> None:
        """Post the outcome in the asker's thread (named reviewer), close the card, forget the raw text.

        Legal, medical, HR, privacy and compliance cases get nothing model-written: the asker sees the
        reviewer's own text, or on an approval without text that the reviewer will follow up. No model
        draft is generated for these cases at all (not even for the reviewers' channel)."""
        res = esc.resolution
        assert res is not None
        adapter = self.adapters[esc.platform]
        body = self.replies.render(f"resolution_{res.action}", esc.lang, reviewer=res.reviewer, text=res.text)
        await adapter.reply(esc.channel, esc.thread, body, key=f"resolution:{esc.id}", kind="answer")
        if esc.card_ref and esc.card_channel:
            card = self.replies.render("card_resolved", esc.lang, esc=esc, action=res.action, reviewer=res.reviewer)
            await adapter.update(esc.card_channel, esc.card_ref, card, buttons=())
        self.store.drop_request_text(esc.id)

    async def _appeal(
        self, platform: str, user: str, channel: str, thread: str, decision_id: int | None, event_id: str
    ) -> ActionResult:
        if decision_id is None:
            decision_id = self.store.last_refusal(platform, channel, thread, user)
        row = self.store.decision_row(decision_id) if decision_id is not None else None
        lang = (row or {}).get("lang") or "en"
        if (
            row is None
            or row["kind"] not in ("decision", "response")
            or row["verdict"] != "REFUSE"
            or row["platform"] != platform
            or (row["user"] != user and not self.settings.roles.is_admin(platform, user))
        ):
            return ActionResult(False, self.replies.render("appeal_invalid", lang, decision_id=decision_id), 400)
        assert decision_id is not None
        decision = Decision(
            decision="REFUSE",
            category=row["category"] or "none",
            confidence=float(row["confidence"] or 0.0),
            probs={},
            rationale=row["rationale"] or "",
            human_required=True,
            lang=lang,
        )
        asker = Message(platform, row["channel"], row["thread"], row["user"], row["text_masked"] or "", event_id)
        esc = await self._escalate(
            "appeal",
            decision_id,
            decision,
            asker,
            row["text_masked"] or "",
            row["text_masked"] or "",
            notice_key=f"appeal:{decision_id}",
        )
        log.info("appeal of decision %s opened case %s", decision_id, esc.id)
        return ActionResult(
            True,
            self.replies.render("appeal_opened", lang, domain=esc.domain, esc_id=esc.id),
            extra={"escalation_id": esc.id},
        )

    # ------------------------------------------------------------------ commands
    async def _run_command(self, msg: Message) -> None:
        adapter = self.adapters[msg.platform]
        cmd = commands.parse(msg.text, self.clock())
        lang = detect_lang(msg.text)
        key = f"cmd:{msg.event_id}"
        followup: Escalation | None = None
        text: str | None
        try:
            if isinstance(cmd, commands.Help):
                text = self.replies.render("help", lang)
            elif isinstance(cmd, commands.Status):
                text = self.replies.render("status", lang, **self.status())
            elif isinstance(cmd, commands.Sources):
                text = self.replies.render("sources", lang, folders=await self._sources(msg.channel))
            elif isinstance(cmd, commands.Report):
                if not self.settings.roles.is_admin(msg.platform, msg.user, msg.roles):
                    text = self.replies.render("not_admin", lang, command="report")
                else:
                    text = await self._reply_report(adapter, msg, cmd, lang, key)
            elif isinstance(cmd, commands.Resolve):
                result = await self._resolve(
                    msg.platform, msg.user, cmd.escalation_id, cmd.action, cmd.text, msg.event_id, msg.roles
                )
                followup = result.extra.pop("followup", None)
                text = result.message
            elif isinstance(cmd, commands.Appeal):
                result = await self._appeal(
                    msg.platform, msg.user, msg.channel, msg.thread, cmd.decision_id, msg.event_id
                )
                text = result.message
            else:
                text = self.replies.render("command_error", lang, message=cmd.message)
            if text is not None:  # None: the report replied itself (summary and file)
                await adapter.reply(msg.channel, msg.thread, text, key=key, kind="command")
            if followup is not None:
                await self._post_resolution(followup)
        except StoreError as exc:
            log.error("command %s failed: %s", msg.event_id, exc)
            self.metrics.errors.inc("store")
            with contextlib.suppress(Exception):
                await adapter.reply(
                    msg.channel, msg.thread, self.replies.render("store_error", lang), key=key, kind="command"
                )
            self._finish(msg.platform, msg.event_id, "failed")
            return
        except Exception:  # noqa: BLE001 - left pending, finished on restart
            log.exception("command %s failed", msg.event_id)
            self.metrics.errors.inc("command")
            self._abandon(msg.platform, msg.event_id)
            return
        self._finish(msg.platform, msg.event_id, "done")

    async def _reply_report(
        self, adapter: Adapter, msg: Message, cmd: commands.Report, lang: str, key: str
    ) -> str | None:
        """A short summary in the asker's language (period, requests per verdict, open cases with the
        oldest's age, top categories) with the full Markdown report as a file where the adapter can send
        one (`reply_file`), else with a link to the console's report page (or the `so8t report` command
        when no console is served). Returns a text to reply instead (a week that cannot be read), or None."""
        since, until, label = cmd.since, cmd.until, ""
        if cmd.week:
            try:
                since, until = week_range(cmd.week, self.report_timezone)
            except ValueError as exc:
                return str(exc)
            label = cmd.week
        report = build_report(self.store, since, until, now=self.clock(), label=label, versions=self.versions())
        facts = summary_facts(report, self.report_timezone, lang, hazard_label)
        summary = self.replies.render("report_summary", lang, **facts)
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
                self.metrics.errors.inc("report_file")
        if self.console_url:
            base, query = self.console_url.rstrip("/"), report_query(report)
            link = self.replies.render(
                "report_link", lang, page=f"{base}/report?{query}", download=f"{base}/report.md?{query}", cli=""
            )
        else:
            link = self.replies.render("report_link", lang, page="", download="", cli=report_cli_args(report))
        await adapter.reply(msg.channel, msg.thread, f"{summary}\n{link}", key=key, kind="command")
        return None

    # ------------------------------------------------------------------ operations
    def _licences(self) -> str:
        """The model licences, for `/so8t status` (Gemma is under the Gemma Terms, not Apache-2.0)."""
        try:
            info = self.runtime.info()
        except Exception:  # noqa: BLE001 - status must answer even when the runtime cannot
            return ""
        parts = [str(info.get("licence") or "")]
        if info.get("answer_licence") and info.get("answer_licence") != info.get("licence"):
            parts.append(f"answers: {info['answer_licence']}")
        return " · ".join(p for p in parts if p)

    def status(self) -> dict[str, Any]:
        try:
            open_by_domain = self.store.escalation_counts()
        except StoreError:
            open_by_domain = {}
        return {
            "model_id": getattr(self.runtime, "model_id", ""),
            "head_id": getattr(self.runtime, "head_id", ""),
            "licence": self._licences(),
            "queue": len(self.queue),
            "busy": self.model.busy,
            "open_total": sum(open_by_domain.values()),
            "open_by_domain": open_by_domain,
            "jobs": [_job_line(j) for j in self.jobs_status()] if self.jobs_status is not None else [],
        }

    def health(self) -> dict[str, Any]:
        store_problem = self.store.check_writable()
        adapters = {name: bool(a.connected) for name, a in self.adapters.items()}
        model_ok = self.runtime is not None and bool(getattr(self.runtime, "model_id", "x") is not None)
        ok = model_ok and store_problem is None and all(adapters.values()) and self.started
        return {
            "ok": ok,
            "model": model_ok,
            "store": store_problem is None,
            "store_error": store_problem,
            "adapters": adapters,
            "worker": self.started,
            "queue": len(self.queue),
        }


def _job_line(job: dict[str, Any]) -> dict[str, Any]:
    """One job for the status template: schedule, last run (start, end, outcome), next run."""

    def when(ts: float | None) -> str:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "—"

    return {
        "name": job["name"],
        "schedule": f"{job['cron']} ({job['timezone']})" if job["enabled"] else "off",
        "last": (
            f"{when(job['last_started'])} → {when(job['last_ended'])} {job['last_outcome']}"
            if job["last_started"]
            else "never"
        ),
        "summary": job.get("last_summary") or "",
        "next": when(job["next"]) if job["next"] else "—",
    }
