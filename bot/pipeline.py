"""The message pipeline: thread context -> decide -> audit -> route (answer, refuse or escalate).

One admitted message goes through `Pipeline.handle` on the model worker. The verdict is audited before
anything is posted; an ALLOW answer is streamed through the answer guard and watched by the response
head; REFUSE gets the rationale and an appeal button; ESCALATE opens a case (bot/review.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from bot.errors import StoreError
from bot.events import Message
from bot.pii import mask
from bot.ports import Adapter
from bot.review import appeal_button
from bot.store import DecisionRecord
from bot.worker import ModelSession
from kb import Passage
from kb import relevant as kb_relevant
from kb import render as render_passages
from kb import retrieve as kb_retrieve
from kb import sources as kb_sources
from kb.grounding import GROUNDING_OUTCOMES, focus, grounded_answer, supported
from runtime.answer_guard import AnswerGuard
from runtime.base import Decision, Turn
from runtime.gate import support_first
from runtime.hazards import hazard_label
from runtime.lang import detect_lang
from runtime.response import ResponseVerdict

if TYPE_CHECKING:
    from bot.core import Bot

log = logging.getLogger("so8t.bot")
_QUOTE_MARK = re.compile(r"(?m)^[ \t]*>[ \t]?")
# a number or Latin word still being written at the end of a streamed answer ("¥15," of "¥15,000")
_UNFINISHED = re.compile(r"[0-9A-Za-z,.¥$€万千\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]*$")


class AnswerFailed(Exception):
    """The runtime failed while writing an ALLOW answer (the decision is already audited)."""


class Pipeline:
    """Decide, audit and route one message; reads the Bot's store, adapters, replies and settings."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        for outcome in GROUNDING_OUTCOMES:
            bot.metrics.grounded.inc(outcome, by=0)  # on /metrics from the start

    async def handle(self, msg: Message) -> str:
        """Decide, audit, route one admitted message; returns the event's final state."""
        bot = self.bot
        adapter = bot.adapters[msg.platform]
        existing = bot.store.decision_for_event(msg.platform, msg.event_id)
        context = await self.context(adapter, msg)
        masked = mask(msg.text).text
        answer_failed = False
        stopped: ResponseVerdict | None = None
        async with bot.model.hold() as model:
            t0 = time.perf_counter()
            try:
                decision = await model.decide(context, msg.text)
            except Exception as exc:  # noqa: BLE001 - fail closed
                log.warning("runtime error in decide (%s): escalating", type(exc).__name__)
                bot.metrics.errors.inc("runtime")
                decision = self.runtime_error_decision(msg.text)
            if decision.reason == "runtime_error":  # the model failed: a person at risk still gets support
                decision = support_first(decision, [msg.text])
            latency_ms = (time.perf_counter() - t0) * 1000.0
            if existing is not None:
                decision_id, decision = existing  # finishing after a crash: the audited verdict stands
            else:
                bot.metrics.decide_s.observe(latency_ms / 1000.0)
                try:
                    decision_id = bot.store.append_decision(self.record(msg, decision, latency_ms, masked))
                except StoreError as exc:
                    log.error("not acting on event %s: %s", msg.event_id, exc)
                    bot.metrics.errors.inc("store")
                    await adapter.reply(
                        msg.channel,
                        msg.thread,
                        bot.replies.render("store_error", decision.lang),
                        key=f"reply:{msg.event_id}",
                        kind="notice",
                    )
                    return "failed"
                bot.metrics.decisions.inc(decision.decision, decision.category)
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
                    stopped = await self.stream_answer(model, adapter, msg, context, decision, decision_id)
                except AnswerFailed:
                    answer_failed = True
        if answer_failed:
            await bot.review.escalate("runtime_error", decision_id, decision, msg, masked, msg.text)
        elif stopped is not None:
            await self.response_stopped(stopped, decision_id, decision, msg, masked)
        elif decision.decision == "REFUSE":
            await self.refuse(msg, decision, decision_id)
        elif decision.decision == "ESCALATE":
            kind: Literal["escalate", "runtime_error"] = (
                "runtime_error" if decision.reason == "runtime_error" else "escalate"
            )
            await bot.review.escalate(kind, decision_id, decision, msg, masked, msg.text)
        return "done"

    async def refuse(self, msg: Message, decision: Decision, decision_id: int) -> None:
        """The refusal in the asker's thread: the category, the rationale and an appeal button."""
        bot = self.bot
        lang = decision.lang
        text = bot.replies.render(
            "refuse",
            lang,
            category=hazard_label(decision.category, lang),
            rationale=decision.rationale,
            decision_id=decision_id,
        )
        await bot.adapters[msg.platform].reply(
            msg.channel,
            msg.thread,
            text,
            key=f"reply:{msg.event_id}",
            buttons=(appeal_button(bot.replies.render, lang, decision_id),),
        )

    def record(self, msg: Message, decision: Decision, latency_ms: float, masked: str) -> DecisionRecord:
        """What the audit keeps of a verdict on this message: the masked text and its keyed hash."""
        return DecisionRecord(
            ts=self.bot.clock(),
            platform=msg.platform,
            channel=msg.channel,
            thread=msg.thread,
            user=msg.user,
            event_id=msg.event_id,
            decision=decision,
            latency_ms=latency_ms,
            text_masked=masked,
            text_sha256=self.bot.store.text_hash(msg.text),
        )

    def runtime_error_decision(self, text: str) -> Decision:
        """ESCALATE with reason runtime_error: the model failed, a person decides (fail closed)."""
        runtime = self.bot.runtime
        return Decision(
            decision="ESCALATE",
            category="none",
            confidence=0.0,
            probs={},
            rationale="runtime error",
            human_required=True,
            lang=detect_lang(text),
            reason="runtime_error",
            domain=self.bot.settings.escalation.fallback_domain,
            model_id=getattr(runtime, "model_id", ""),
            head_id=getattr(runtime, "head_id", ""),
        )

    async def context(self, adapter: Adapter, msg: Message) -> list[Turn]:
        """The thread's last turns (policy.context_turns), bounded; [] when the adapter cannot read them."""
        bot = self.bot
        turns = bot.settings.policy.context_turns
        if not turns:
            return []
        try:
            raw = await adapter.thread_context(msg.channel, msg.thread, msg.message_id, turns)
        except Exception as exc:  # noqa: BLE001 - context is best effort
            log.warning("thread context unavailable (%s)", type(exc).__name__)
            return []
        return bot.policy.bound_context(raw)

    async def stream_answer(
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
        verdict when it stopped the answer (what was posted is then withdrawn), else None.

        An answer written from the team's passages is checked against them (kb/grounding.py): the stream stops
        being updated at the first number or name they do not hold, and an answer that states one, shares
        nothing with them or was not usable is replaced whole by their own best sentences, quoted and cited."""
        bot = self.bot
        key = f"answer:{msg.event_id}"
        lang = decision.lang
        guard = AnswerGuard(lang, bot.replies.render("answer_shortened", lang), request=msg.text)
        passages = await self.passages(msg)
        documents = render_passages(passages, lang) if passages else None
        sources = focus(passages)
        ref: str | None = None
        posted = ""
        held = False  # a grounded answer stated a fact its passages do not hold: no more updates
        last = time.monotonic()
        t0 = time.perf_counter()
        try:
            async with contextlib.aclosing(model.answer(context, msg.text, documents=documents)) as pieces:
                async for piece in pieces:
                    if guard.feed(piece):
                        break  # closing the stream stops generation
                    text, now = postable(guard.visible, bool(passages)), time.monotonic()
                    if passages:  # only what is checked is shown: a figure is checked once it is written out
                        text = _UNFINISHED.sub("", text).rstrip()
                        held = held or not supported(text, sources, msg.text)
                    if held:
                        continue
                    if text and text != posted and (ref is None or now - last >= bot.settings.stream_update_s):
                        if ref is None:
                            ref = await adapter.reply(msg.channel, msg.thread, text, key=key)
                        else:
                            await adapter.update(msg.channel, ref, text)
                        posted, last = text, now
        except Exception as exc:  # noqa: BLE001 - fail closed: a person follows up
            log.warning("runtime error in answer (%s): escalating", type(exc).__name__)
            bot.metrics.errors.inc("runtime")
            raise AnswerFailed from exc
        bot.metrics.answer_s.observe(time.perf_counter() - t0)
        verdict = model.response
        if model.finish_reason == "flagged" and verdict is not None and verdict.flagged:
            bot.metrics.response_stops.inc(verdict.label, verdict.category)
            self.record_answer(decision_id, "response_flagged")
            log.info("event %s: answer stopped (%s/%s)", msg.event_id, verdict.label, verdict.category)
            if ref is not None:
                await adapter.update(msg.channel, ref, bot.replies.render("answer_withdrawn", lang))
            return verdict
        result = guard.finish(budget_hit=model.finish_reason == "length")
        bot.metrics.answers.inc(result.outcome)
        self.record_answer(decision_id, result.outcome)
        if result.outcome != "ok":
            log.info("event %s: answer guard: %s", msg.event_id, result.outcome)
        final = "" if result.fallback else postable(result.text, bool(passages))
        if passages:
            text, grounding, check = grounded_answer(final, passages, msg.text, lang)
            bot.metrics.grounded.inc(grounding)
            if grounding != "model":
                log.info("event %s: grounded answer replaced (%s)", msg.event_id, check.reason)
                final = mask(text).text
        if not final:
            final = bot.replies.render("answer_fallback", lang)
        if passages:  # the documents the answer was written from, numbered as the answer cites them
            final += "\n\n" + bot.replies.render("answer_sources", lang, sources=kb_sources(passages))
        elif bot.knowledge and not result.fallback:
            final += "\n\n" + bot.replies.render("answer_no_document", lang)
        if ref is None:
            await adapter.reply(msg.channel, msg.thread, final, key=key)
        else:  # always: after a restart `ref` may be the message a crashed run left half-written
            await adapter.update(msg.channel, ref, final)
        return None

    async def passages(self, msg: Message) -> list[Passage]:
        """The team's passages for an ALLOWed request that this channel may see (kb/), [] when none is relevant.
        The verdict was made before and never reads them."""
        bot = self.bot
        if not bot.knowledge:
            return []
        try:
            found = await asyncio.to_thread(
                kb_retrieve, bot.store.path, msg.text, msg.channel, 3, folders=bot.knowledge
            )
        except Exception as exc:  # noqa: BLE001 - retrieval is best effort: the answer goes on without it
            log.warning("knowledge retrieval failed (%s): answering without documents", type(exc).__name__)
            return []
        return found if kb_relevant(found) else []

    def record_answer(self, decision_id: int, outcome: str) -> None:
        """The answer's outcome for the weekly report; a store error is logged, the answer still goes out."""
        bot = self.bot
        try:
            bot.store.record_answer(decision_id, outcome, bot.clock())
        except StoreError as exc:
            log.error("answer outcome of decision %s not recorded: %s", decision_id, exc)
            bot.metrics.errors.inc("store")

    async def response_stopped(
        self, verdict: ResponseVerdict, decision_id: int, decision: Decision, msg: Message, masked: str
    ) -> None:
        """The response head stopped an ALLOW answer: its verdict is audited beside the request's (a chained
        "response" row referring to it), then the asker gets a refusal (unsafe; appealable) or the case goes
        to the domain's reviewers (individual specialist advice), both with the reason response_flagged."""
        bot = self.bot
        unsafe = verdict.label == "unsafe"
        lang = decision.lang
        stop = Decision(
            decision="REFUSE" if unsafe else "ESCALATE",
            category=verdict.category,
            confidence=verdict.p_unsafe if unsafe else verdict.p_escalate,
            probs={"unsafe": verdict.p_unsafe, "escalate": verdict.p_escalate},
            rationale=bot.replies.render("response_rationale", lang, position=verdict.position),
            human_required=not unsafe,
            lang=lang,
            reason="response_flagged",
            domain=None if unsafe else verdict.category,
            model_id=decision.model_id,
            head_id=str(getattr(bot.runtime, "response_head_id", None) or "response"),
        )
        stop_id = bot.store.append_response(decision_id, self.record(msg, stop, 0.0, masked), verdict.as_dict())
        if not unsafe:
            await bot.review.escalate("escalate", stop_id, stop, msg, masked, msg.text)
            return
        await self.refuse(msg, stop, stop_id)


def postable(text: str, grounded: bool) -> str:
    """What may be posted of an answer: personal data masked; in a grounded answer, the "> " quote marks
    of the prompt's document block taken off the lines a small model copies from it."""
    if grounded:
        text = _QUOTE_MARK.sub("", text)
    return mask(text.strip()).text
