"""The escalation lifecycle: open -> resolved (approve / decline / answer), deadlines and reminders,
appeals of refusals. Who may resolve is decided here (reviewers of the domain, or admins)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.events import Escalation, Message, Resolution
from bot.settings import EscalationSettings, RoleSettings
from bot.store import AuditStore
from runtime.base import REVIEW_DOMAINS, Decision

# Which reviewers look at an appeal of a refusal in this category.
APPEAL_DOMAINS: dict[str, str] = {"harassment": "hr", "privacy": "privacy", "violence": "hr"}
RESOLVE_ACTIONS = ("approve", "decline", "answer")


@dataclass(frozen=True)
class ResolveOutcome:
    status: Literal["ok", "not_found", "forbidden", "already", "needs_text", "bad_action"]
    escalation: Escalation | None = None


def format_deadline(ts: float, tz: str = "UTC") -> str:
    """A deadline as people read it: `2026-05-01 18:00 JST` in the configured time zone (UTC if unknown)."""
    try:
        zone: tzinfo = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M %Z")


class Escalations:
    def __init__(
        self, store: AuditStore, settings: EscalationSettings, roles: RoleSettings, clock: Callable[[], float]
    ) -> None:
        self.store = store
        self.settings = settings
        self.roles = roles
        self.clock = clock

    def domain_for(self, decision: Decision, kind: str) -> str:
        if kind == "appeal":
            return APPEAL_DOMAINS.get(decision.category, self.settings.fallback_domain)
        for candidate in (decision.domain, decision.category):
            if candidate in REVIEW_DOMAINS:
                return str(candidate)
        return self.settings.fallback_domain

    def open(
        self,
        kind: Literal["escalate", "appeal", "runtime_error"],
        decision_id: int,
        decision: Decision,
        msg: Message,
        text_masked: str,
        request_text: str,
    ) -> Escalation:
        """Idempotent per (decision, kind): a replay after a crash gets the same escalation back."""
        domain = self.domain_for(decision, kind)
        now = self.clock()
        base = {
            "platform": msg.platform,
            "channel": msg.channel,
            "thread": msg.thread,
            "user": msg.user,
            "text_masked": text_masked,
            "lang": decision.lang,
            "verdict": decision.decision,
            "category": decision.category,
            "confidence": float(decision.confidence),
            "rationale": decision.rationale,
        }
        return self.store.open_escalation(
            decision_id, kind, domain, base, request_text, now, now + self.settings.deadline_for(domain)
        )

    def may_resolve(self, platform: str, user: str, esc: Escalation, roles: tuple[str, ...] = ()) -> bool:
        return self.roles.is_reviewer(platform, user, esc.domain, roles)

    def resolve(
        self,
        esc_id: int,
        action: str,
        platform: str,
        reviewer: str,
        text: str,
        event_id: str,
        roles: tuple[str, ...] = (),
    ) -> ResolveOutcome:
        if action not in RESOLVE_ACTIONS:
            return ResolveOutcome("bad_action")
        esc = self.store.get_escalation(esc_id)
        if esc is None:
            return ResolveOutcome("not_found")
        if not self.may_resolve(platform, reviewer, esc, roles):
            return ResolveOutcome("forbidden", esc)
        if esc.status == "resolved" and (esc.resolution is None or esc.resolution.event_id != event_id):
            return ResolveOutcome("already", esc)
        if action == "answer" and not text.strip():
            return ResolveOutcome("needs_text", esc)
        res = Resolution(esc_id, action, reviewer, text.strip(), self.clock(), event_id)
        esc, won = self.store.resolve_escalation(res)
        return ResolveOutcome("ok" if won else "already", esc)

    def due(self, now: float | None = None) -> list[Escalation]:
        return self.store.due_reminders(self.clock() if now is None else now)
