"""Review: escalation cards, reviewers' resolutions, appeals of refusals and deadline reminders.

The lifecycle rules (who may resolve, which domain, deadlines) live in bot/escalations.py; this module
does the Bot's side of it: what is posted where, and the events' bookkeeping around a click.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from bot.errors import StoreError
from bot.escalations import format_deadline
from bot.events import ActionEvent, ActionResult, Button, Dialog, Escalation, Message
from bot.pii import mask
from kb.render import shown_path
from kb.saved import answers_folder, file_name, render_answer, write_answer
from kb.store import ensure_index
from runtime.base import Decision
from runtime.hazards import SUPPORT_DOMAIN

if TYPE_CHECKING:
    from bot.core import Bot

log = logging.getLogger("so8t.bot")

# The reviewer's buttons on a card: (action, label template, style); the labels are in templates/bot.
# Decline and Answer take text: their buttons carry the dialog's field label as a hint (templates/bot/dialog_label).
ButtonStyle = Literal["primary", "danger", "default"]
CARD_BUTTONS: tuple[tuple[str, str, ButtonStyle], ...] = (
    ("approve", "button_approve", "primary"),
    ("decline", "button_decline", "danger"),
    ("answer", "button_answer", "default"),
)
TEXT_ACTIONS = ("decline", "answer")
RenderFn = Callable[..., str]  # Replies.render's shape: (template name, lang, **context) -> text
EscalationKind = Literal["escalate", "appeal", "runtime_error"]
# The asker's notice for each kind of case (a template name).
_NOTICES: dict[str, str] = {"escalate": "escalated", "runtime_error": "runtime_error", "appeal": "appeal_opened"}


class Review:
    """The Bot's review flow; reads the Bot's store, adapters, replies and settings as they are now."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    # ------------------------------------------------------------------ opening a case
    async def escalate(
        self,
        kind: EscalationKind,
        decision_id: int,
        decision: Decision,
        msg: Message,
        masked: str,
        request_text: str,
        notice_key: str | None = None,
    ) -> Escalation:
        """Open a case, post its card in the domain's reviewers' channel and tell the asker."""
        bot = self.bot
        esc = bot.escalations.open(kind, decision_id, decision, msg, masked, request_text)
        bot.metrics.opened.inc(esc.domain, kind)
        await self.post_card(esc)
        adapter = bot.adapters[msg.platform]
        name = _NOTICES[kind]
        if kind == "escalate" and esc.domain == SUPPORT_DOMAIN:
            name = "support"  # self-harm: support resources in the asker's language at once, a person follows up
        text = bot.replies.render(
            name, esc.lang, domain=esc.domain, esc_id=esc.id, deadline=format_deadline(esc.deadline, bot.timezone)
        )
        await adapter.reply(msg.channel, msg.thread, text, key=notice_key or f"reply:{msg.event_id}", kind="notice")
        return esc

    async def post_card(self, esc: Escalation) -> None:
        bot = self.bot
        adapter = bot.adapters[esc.platform]
        channel = bot.settings.escalation.channel_for(esc.platform, esc.domain)
        text = bot.replies.render(
            "card",
            esc.lang,
            esc=esc,
            kind_label=bot.replies.render(f"card_kind_{esc.kind}", esc.lang),
            deadline=format_deadline(esc.deadline, bot.timezone),
        )
        buttons = card_buttons(bot.replies.render, esc.lang, esc.id)
        ref = await adapter.post(channel, text, key=f"card:{esc.id}", buttons=buttons, kind="card")
        if esc.card_ref != ref:
            bot.store.set_card(esc.id, channel, ref)

    # ------------------------------------------------------------------ reminders
    async def check_deadlines(self, now: float | None = None) -> int:
        """Post a reminder for every open escalation past its deadline (once each)."""
        bot = self.bot
        sent = 0
        for esc in bot.escalations.due(now):
            adapter = bot.adapters.get(esc.platform)
            if adapter is None:
                continue
            channel = esc.card_channel or bot.settings.escalation.channel_for(esc.platform, esc.domain)
            text = bot.replies.render(
                "reminder", esc.lang, esc=esc, deadline=format_deadline(esc.deadline, bot.timezone)
            )
            if esc.card_ref:
                await adapter.reply(channel, esc.card_ref, text, key=f"reminder:{esc.id}", kind="notice")
            else:
                await adapter.post(channel, text, key=f"reminder:{esc.id}", kind="notice")
            bot.store.mark_reminded(esc.id, bot.clock() if now is None else now)
            sent += 1
        return sent

    async def remind_loop(self, stopping: asyncio.Event) -> None:
        """check_deadlines every `escalation.check_interval_s` until `stopping` is set."""
        interval = self.bot.settings.escalation.check_interval_s
        while not stopping.is_set():
            try:
                await self.check_deadlines()
            except Exception:  # noqa: BLE001 - keep reminding later
                log.exception("deadline check failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=interval)

    # ------------------------------------------------------------------ clicks and resolutions
    async def finish_action(self, ev: ActionEvent) -> ActionResult:
        """A stored click: appeal or resolve, answered at once; posting a resolution runs in the background."""
        bot = self.bot
        try:
            if ev.action == "kb_save":
                result = await self.save_answer(ev)
            elif ev.action == "appeal":
                result = await self.appeal(
                    ev.platform,
                    ev.user,
                    ev.channel,
                    ev.thread,
                    int(ev.value) if ev.value.isdigit() else None,
                    ev.event_id,
                )
            else:
                esc_id = int(ev.value) if ev.value.isdigit() else -1
                result = await self.resolve(ev.platform, ev.user, esc_id, ev.action, ev.text, ev.event_id, ev.roles)
        except StoreError as exc:
            log.error("action %s failed: %s", ev.event_id, exc)
            bot.metrics.errors.inc("store")
            bot.finish(ev.platform, ev.event_id, "failed")
            lang = self.click_lang(ev.platform, ev.user, ev.value if ev.action != "appeal" else "")
            return ActionResult(False, bot.replies.render("store_unavailable", lang), 503)
        if result.ok and result.extra.get("followup") is not None:
            bot.spawn(self._followup(ev, result.extra.pop("followup")))
        else:
            bot.finish(ev.platform, ev.event_id, "done" if result.ok else "refused")
        return result

    async def _followup(self, ev: ActionEvent, esc: Escalation) -> None:
        bot = self.bot
        try:
            await self.post_resolution(esc)
        except Exception:  # noqa: BLE001 - left pending, finished on restart
            log.exception("posting resolution of case %s failed", esc.id)
            bot.metrics.errors.inc("resolution")
            bot.abandon(ev.platform, ev.event_id)
            return
        bot.finish(ev.platform, ev.event_id, "done")

    def click_lang(self, platform: str, user: str, value: str = "") -> str:
        """The language of a reply to a click: the case's (`value`, a case id), else that of the clicker's last
        request on the platform, else English (also when the store cannot be read)."""
        store = self.bot.store
        try:
            esc = store.get_escalation(int(value)) if value.isdigit() else None
            return esc.lang if esc is not None else store.last_lang(platform, user) or "en"
        except StoreError:
            return "en"

    def dialog(self, platform: str, user: str, action: str, value: str) -> Dialog:
        """The texts of the Answer / Decline dialog for case `value`, in the case's language."""
        render, lang = self.bot.replies.render, self.click_lang(platform, user, value)
        return Dialog(
            render("dialog_title", lang, action=action, esc_id=value),
            render("dialog_label", lang, action=action),
            render("dialog_submit", lang),
            render("dialog_cancel", lang),
        )

    def refusal(self, platform: str, user: str, value: str, roles: tuple[str, ...] = ()) -> str | None:
        """Why `user` may not resolve case `value` (a line in the case's language), or None when they may."""
        bot = self.bot
        esc = bot.store.get_escalation(int(value)) if value.isdigit() else None
        if esc is None:
            return bot.replies.render("not_found", self.click_lang(platform, user), esc_id=value)
        if not bot.escalations.may_resolve(platform, user, esc, roles):
            return bot.replies.render("not_reviewer", esc.lang, domain=esc.domain, esc_id=esc.id, user=user)
        return None

    async def resolve(
        self, platform: str, user: str, esc_id: int, action: str, text: str, event_id: str, roles: tuple[str, ...] = ()
    ) -> ActionResult:
        """A reviewer's approve / decline / answer; on success `extra["followup"]` is the case to post."""
        bot = self.bot
        outcome = bot.escalations.resolve(esc_id, action, platform, user, text, event_id, roles)
        esc = outcome.escalation
        lang = esc.lang if esc else self.click_lang(platform, user, str(esc_id))
        if outcome.status == "not_found":
            return ActionResult(False, bot.replies.render("not_found", lang, esc_id=esc_id), 404)
        if outcome.status == "bad_action":
            return ActionResult(False, bot.replies.render("unknown_action", lang, action=action), 400)
        assert esc is not None
        if outcome.status == "forbidden":
            log.info("user without the %s reviewer role tried to resolve case %s", esc.domain, esc.id)
            return ActionResult(
                False,
                bot.replies.render("not_reviewer", lang, domain=esc.domain, esc_id=esc.id, user=user),
                403,
            )
        if outcome.status == "already":
            return ActionResult(False, bot.replies.render("already_resolved", lang, esc=esc), 409)
        if outcome.status == "needs_text":
            return ActionResult(False, bot.replies.render("answer_needs_text", lang, esc_id=esc.id), 400)
        bot.metrics.resolved.inc(esc.domain, action)
        log.info("case %s resolved (%s)", esc.id, action)
        return ActionResult(
            True,
            bot.replies.render("resolved_ok", lang, esc_id=esc.id, action=action),
            extra={"followup": esc, "escalation_id": esc.id},
        )

    async def post_resolution(self, esc: Escalation) -> None:
        """Post the outcome in the asker's thread (named reviewer), close the card, forget the raw text.

        Legal, medical, HR, privacy and compliance cases get nothing model-written: the asker sees the
        reviewer's own text, or on an approval without text that the reviewer will follow up. No model
        draft is generated for these cases at all (not even for the reviewers' channel)."""
        bot = self.bot
        res = esc.resolution
        assert res is not None
        adapter = bot.adapters[esc.platform]
        body = bot.replies.render(f"resolution_{res.action}", esc.lang, reviewer=res.reviewer, text=res.text)
        await adapter.reply(esc.channel, esc.thread, body, key=f"resolution:{esc.id}", kind="answer")
        if esc.card_ref and esc.card_channel:
            card = bot.replies.render("card_resolved", esc.lang, esc=esc, action=res.action, reviewer=res.reviewer)
            buttons = (kb_save_button(bot.replies.render, esc),) if self.savable(esc) is None else ()
            await adapter.update(esc.card_channel, esc.card_ref, card, buttons=buttons)
        bot.store.drop_request_text(esc.id)

    # ------------------------------------------------------------------ saving an answer to the knowledge base
    def savable(self, esc: Escalation) -> str | None:
        """Why the case's answer cannot be saved to the knowledge base (a kb_save_unavailable reason), or None:
        it needs a reviewers' folder (`answers: true`), a case resolved with an answer, and not a support case."""
        res = esc.resolution
        if answers_folder(self.bot.knowledge) is None:
            return "no_folder"
        if esc.domain == SUPPORT_DOMAIN:
            return "support"  # self-harm: a person's own situation, never a page for others
        if esc.status != "resolved" or res is None or res.action != "answer" or not res.text.strip():
            return "not_answered"
        return None

    async def save_answer(self, ev: ActionEvent) -> ActionResult:
        """The reviewer's "Save to knowledge base" click: reviewers of the case's domain (or admins) only, once
        per case (the chained kb_saved row decides; a replay of the same click finishes its own save). The
        question and the answer are masked, written as one Markdown page in the reviewers' folder with who and
        when, indexed at once, and the card says so."""
        bot = self.bot
        esc = bot.store.get_escalation(int(ev.value)) if ev.value.isdigit() else None
        if esc is None:
            return ActionResult(
                False, bot.replies.render("not_found", self.click_lang(ev.platform, ev.user), esc_id=ev.value), 404
            )
        lang = esc.lang
        if not bot.escalations.may_resolve(ev.platform, ev.user, esc, ev.roles):
            log.info("user without the %s reviewer role tried to save case %s", esc.domain, esc.id)
            return ActionResult(
                False, bot.replies.render("not_reviewer", lang, domain=esc.domain, esc_id=esc.id, user=ev.user), 403
            )
        reason = self.savable(esc)
        folder = answers_folder(bot.knowledge)
        if reason is not None or folder is None or esc.resolution is None:
            return ActionResult(
                False, bot.replies.render("kb_save_unavailable", lang, reason=reason, esc_id=esc.id), 409
            )
        path = shown_path(f"{folder.path.rstrip('/')}/{file_name(esc.id)}")
        saved, won = bot.store.save_to_kb(esc.id, ev.user, ev.event_id, bot.clock(), path)
        if not won and saved.get("event_id") != ev.event_id:
            return ActionResult(
                False,
                bot.replies.render(
                    "kb_already_saved", lang, esc_id=esc.id, user=saved.get("user"), path=saved.get("text_masked")
                ),
                409,
            )
        document = render_answer(
            esc.id,
            mask(esc.text_masked).text,
            mask(esc.resolution.text).text,
            ev.user,
            float(saved["ts"]),
            esc.domain,
            lang,
        )
        try:
            await asyncio.to_thread(write_answer, folder, esc.id, document)
        except OSError as exc:
            log.error("case %s: the knowledge folder could not be written (%s)", esc.id, type(exc).__name__)
            bot.metrics.errors.inc("kb_save")
            return ActionResult(
                False, bot.replies.render("kb_save_unavailable", lang, reason="failed", esc_id=esc.id), 500
            )
        await asyncio.to_thread(ensure_index, bot.store.path, bot.knowledge)  # at once: the next asker finds it
        if won:
            bot.metrics.kb_saved.inc(esc.domain)
        log.info("case %s: answer saved to the knowledge base", esc.id)
        line = bot.replies.render("kb_saved", lang, user=ev.user, path=path)
        if esc.card_ref and esc.card_channel:
            res = esc.resolution
            card = bot.replies.render("card_resolved", lang, esc=esc, action=res.action, reviewer=res.reviewer)
            await bot.adapters[esc.platform].update(esc.card_channel, esc.card_ref, f"{card}\n{line}", buttons=())
        return ActionResult(True, line, extra={"escalation_id": esc.id})

    async def appeal(
        self, platform: str, user: str, channel: str, thread: str, decision_id: int | None, event_id: str
    ) -> ActionResult:
        """The asker (or an admin) asks for a person to look at a refusal: a case of kind "appeal"."""
        bot = self.bot
        if decision_id is None:
            decision_id = bot.store.last_refusal(platform, channel, thread, user)
        row = bot.store.decision_row(decision_id) if decision_id is not None else None
        lang = (row or {}).get("lang") or self.click_lang(platform, user)
        if (
            row is None
            or row["kind"] not in ("decision", "response")
            or row["verdict"] != "REFUSE"
            or row["platform"] != platform
            or (row["user"] != user and not bot.settings.roles.is_admin(platform, user))
        ):
            return ActionResult(False, bot.replies.render("appeal_invalid", lang, decision_id=decision_id), 400)
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
        esc = await self.escalate(
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
            bot.replies.render("appeal_opened", lang, domain=esc.domain, esc_id=esc.id),
            extra={"escalation_id": esc.id},
        )


def card_buttons(render: RenderFn, lang: str, esc_id: int) -> tuple[Button, ...]:
    """The Approve / Decline / Answer buttons of a case's card, labelled from templates/bot/button_* in the case's
    language; Decline and Answer carry what to type (templates/bot/dialog_label) as their hint."""
    return tuple(
        Button(
            action,
            render(label, lang),
            str(esc_id),
            style,
            render("dialog_label", lang, action=action) if action in TEXT_ACTIONS else "",
        )
        for action, label, style in CARD_BUTTONS
    )


def kb_save_button(render: RenderFn, esc: Escalation) -> Button:
    """The reviewer's button on an answered case's card: save the answer to the knowledge base."""
    return Button("kb_save", render("button_kb_save", esc.lang), str(esc.id), "primary")


def appeal_button(render: RenderFn, lang: str, decision_id: int) -> Button:
    """The asker's button under a refusal: a person looks at it (an appeal of decision `decision_id`)."""
    return Button("appeal", render("button_appeal", lang), str(decision_id))
