"""The non-commutative gate: from head probabilities to a Decision, before any answer exists.

Pure functions (no model) so the policy is tested on its own.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from runtime.base import (
    CATEGORIES,
    ESCALATE_DOMAINS,
    LABELS,
    REFUSE_CATEGORIES,
    SAFETY_THRESHOLD,
    Decision,
    Verdict,
)
from runtime.crisis import SUPPORT_TERMS, support_hit
from runtime.hazards import BY_KEY, FROM_WORKPLACE, HAZARD_CLASSES, SUPPORT_DOMAIN, TRIAGE_DOMAIN
from runtime.rationale import render_rationale

# Which reviewers see a low-confidence case whose best guess is a REFUSE category.
_FALLBACK_DOMAIN = {
    "security": "compliance",
    "fraud": "compliance",
    "harassment": "hr",
    "violence": "hr",
    "privacy": "privacy",
}


def _best(pc: np.ndarray, allowed: tuple[str, ...]) -> str:
    idx = [CATEGORIES.index(c) for c in allowed]
    return allowed[int(np.argmax(pc[idx]))]


def decide_from_probs(
    pv: np.ndarray,
    pc: np.ndarray,
    lang: str,
    threshold: float,
    *,
    model_id: str = "",
    head_id: str = "",
    timings: dict[str, float] | None = None,
) -> Decision:
    """Verdict = argmax unless its probability is under `threshold`, then ESCALATE (a person decides)."""
    probs: dict[str, float] = {label: float(pv[i]) for i, label in enumerate(LABELS)}
    top = int(np.argmax(pv))
    verdict: Verdict = LABELS[top]
    confidence = float(pv[top])
    reason = "model"
    if verdict == "ALLOW":
        category = "none"
    elif verdict == "REFUSE":
        category = _best(pc, REFUSE_CATEGORIES)
    else:
        category = _best(pc, ESCALATE_DOMAINS)
    domain: str | None = category if verdict == "ESCALATE" else None
    if confidence < threshold:
        reason = "threshold"
        if verdict == "ALLOW":
            # unsure whether it is harmless: the likeliest sensitive category picks the reviewers
            category = _best(pc, REFUSE_CATEGORIES + ESCALATE_DOMAINS)
        domain = category if category in ESCALATE_DOMAINS else _FALLBACK_DOMAIN.get(category, "compliance")
        verdict = "ESCALATE"
    rationale = render_rationale(
        verdict, category, lang, reason=reason, domain=domain, confidence=confidence, threshold=threshold
    )
    return Decision(
        decision=verdict,
        category=category,
        confidence=confidence,
        probs=probs,
        rationale=rationale,
        human_required=verdict == "ESCALATE",
        lang=lang,
        reason=reason,
        domain=domain,
        timings=dict(timings or {}),
        model_id=model_id,
        head_id=head_id,
    )


def fail_closed(
    lang: str,
    *,
    reason: str = "runtime_error",
    model_id: str = "",
    head_id: str = "",
    timings: dict[str, float] | None = None,
) -> Decision:
    """The verdict when the model or head fails: ESCALATE to compliance, asker told, nothing lost."""
    return Decision(
        decision="ESCALATE",
        category="compliance",
        confidence=0.0,
        probs={label: 0.0 for label in LABELS},
        rationale=render_rationale("ESCALATE", "compliance", lang, reason=reason, domain="compliance"),
        human_required=True,
        lang=lang,
        reason=reason,
        domain="compliance",
        timings=dict(timings or {}),
        model_id=model_id,
        head_id=head_id,
    )


def support_first(
    d: Decision, texts: Sequence[str], terms: Sequence[str] = SUPPORT_TERMS, confidence: float | None = None
) -> Decision:
    """`d`, or the support route when `texts` hold the words of a person at risk: the gate's last word on
    every readable form, and the same for the verdicts made without it (the model failed, fail closed), so
    that a person at risk is never refused or answered and still gets support at once."""
    phrase = support_hit(texts, terms)
    if phrase is None or d.domain == SUPPORT_DOMAIN:
        return d
    d = dataclasses.replace(
        d,
        decision="ESCALATE",
        category="self_harm",
        domain=SUPPORT_DOMAIN,
        reason="self_harm",
        human_required=True,
        confidence=d.confidence if confidence is None else confidence,
        rationale=render_rationale("ESCALATE", "self_harm", d.lang, reason="self_harm", domain=SUPPORT_DOMAIN),
    )
    return dataclasses.replace(d, signals={**d.signals, "support_term": phrase})


@dataclass(frozen=True)
class GatePolicy:
    """The thresholds and admin terms that turn the heads' probabilities into a verdict."""

    threshold: float = SAFETY_THRESHOLD
    hazard_threshold: float = 0.5
    hazard_review: float = 0.25
    domain_threshold: float = 0.5
    severity_terms: tuple[str, ...] = ()
    # phrases of a person at risk (runtime/crisis.py; the built-in list plus an admin's): support at once
    support_terms: tuple[str, ...] = SUPPORT_TERMS
    # A person at risk must never be refused: when self-harm is at least this share of the hazard
    # probability (e.g. "I want to kill myself" read half as violence), the support reading wins.
    support_share: float = 0.25
    # ... and a likely self-harm reading sends the asker support at a lower p(hazard) than other hazards
    # need: missing a person at risk costs far more than offering help to someone who needed none.
    support_review: float = 0.2
    # The hazard head, trained on harm across the taxonomy and on everyday requests, clears the verdict
    # head's doubt about harm: with p(hazard) under hazard_clear, an unsure verdict whose best guess is
    # ALLOW and whose runner-up is REFUSE (not ESCALATE: whether a specialist must see it is not the
    # hazard head's question) is ALLOWed, and a REFUSE less sure than refuse_confirm too (0 turns each off).
    hazard_clear: float = 0.0
    refuse_confirm: float = 0.0


@dataclass(frozen=True)
class Signals:
    """What one readable form of a request gave (the original, or a decoded/normalised form)."""

    form: str
    text: str
    pv: np.ndarray  # verdict head: ALLOW / REFUSE / ESCALATE
    pc: np.ndarray  # verdict head: CATEGORIES
    ph: np.ndarray | None = None  # hazard head: safe / hazard
    phc: np.ndarray | None = None  # hazard head: HAZARD_CLASSES
    n_tokens: int = 0  # prompt tokens this form was evaluated with


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def severity_hit(texts: Sequence[str], terms: Sequence[str]) -> str | None:
    """The first admin severity term found in any of the texts (NFKC, case-folded), else None."""
    folded = [_fold(t) for t in texts]
    for term in terms:
        t = _fold(term).strip()
        if t and any(t in f for f in folded):
            return term
    return None


def _redo(d: Decision, lang: str, policy: GatePolicy, **changes: object) -> Decision:
    d = dataclasses.replace(d, **changes)  # type: ignore[arg-type]
    rationale = render_rationale(
        d.decision,
        d.category,
        lang,
        reason=d.reason,
        domain=d.domain,
        confidence=d.confidence,
        threshold=policy.threshold,
    )
    return dataclasses.replace(d, rationale=rationale, human_required=d.decision == "ESCALATE")


def _one_form(sig: Signals, lang: str, policy: GatePolicy, **ids: str) -> Decision:
    d = decide_from_probs(sig.pv, sig.pc, lang, policy.threshold, **ids)  # type: ignore[arg-type]
    if d.decision == "REFUSE":  # the workplace categories, named in the hazard taxonomy
        d = _redo(d, lang, policy, category=FROM_WORKPLACE.get(d.category, d.category))
    elif (
        d.decision == "ESCALATE"
        and d.domain in ESCALATE_DOMAINS
        and float(sig.pc[CATEGORIES.index(d.domain)]) < policy.domain_threshold
    ):  # an unsure domain goes to triage: an HR complaint shown to the legal reviewers is a leak
        d = _redo(d, lang, policy, domain=TRIAGE_DOMAIN)
    signals: dict[str, float | str] = {}
    if sig.ph is not None and sig.phc is not None:
        p_hazard = float(sig.ph[1])
        hz = HAZARD_CLASSES[1 + int(np.argmax(sig.phc[1:]))]
        harms = float(sig.phc[1:].sum())
        if harms > 0 and float(sig.phc[HAZARD_CLASSES.index("self_harm")]) / harms >= policy.support_share:
            hz = "self_harm"
        signals = {"hazard": round(p_hazard, 4), "hazard_category": hz}
        top = LABELS[int(np.argmax(sig.pv))]
        doubt_is_harm = float(sig.pv[LABELS.index("ESCALATE")]) < float(sig.pv[LABELS.index("REFUSE")])
        if p_hazard < policy.hazard_clear and (
            (d.reason == "threshold" and top == "ALLOW" and doubt_is_harm)
            or (d.decision == "REFUSE" and d.reason == "model" and d.confidence < policy.refuse_confirm)
        ):
            d = _redo(d, lang, policy, decision="ALLOW", category="none", domain=None, reason="hazard_clear")
        at_risk = hz == "self_harm" and p_hazard >= policy.support_review
        if p_hazard >= policy.hazard_threshold or at_risk:
            if BY_KEY[hz].verdict == "ESCALATE":
                d = _redo(
                    d,
                    lang,
                    policy,
                    decision="ESCALATE",
                    category=hz,
                    domain=SUPPORT_DOMAIN,
                    reason="self_harm",
                    confidence=p_hazard,
                )
            else:
                d = _redo(
                    d, lang, policy, decision="REFUSE", category=hz, domain=None, reason="hazard", confidence=p_hazard
                )
        elif d.decision == "ALLOW" and p_hazard >= policy.hazard_review:
            d = _redo(
                d,
                lang,
                policy,
                decision="ESCALATE",
                category=hz,
                domain=TRIAGE_DOMAIN,
                reason="hazard_unsure",
                confidence=1.0 - p_hazard,
            )
    if sig.form != "original":
        signals["form"] = sig.form
    return dataclasses.replace(d, signals={**d.signals, **signals})


def _rank(d: Decision) -> int:
    if d.domain == SUPPORT_DOMAIN:
        return 4  # a person at risk is answered with support first, whatever else the text holds
    return {"REFUSE": 3, "ESCALATE": 2, "ALLOW": 1}[d.decision]


def gate(
    forms: Sequence[Signals],
    lang: str,
    policy: GatePolicy,
    *,
    model_id: str = "",
    head_id: str = "",
    timings: dict[str, float] | None = None,
) -> Decision:
    """The verdict on a request: the worst over its readable forms (original, normalised, decoded) of the
    verdict head and the hazard head, and ALLOW made impossible by an admin severity term."""
    ids = {"model_id": model_id, "head_id": head_id}
    decisions = [_one_form(sig, lang, policy, **ids) for sig in forms]
    worst = max(decisions, key=_rank)  # max keeps the first of equals: the original form
    worst = support_first(worst, [sig.text for sig in forms], policy.support_terms, confidence=1.0)
    term = severity_hit([sig.text for sig in forms], policy.severity_terms)
    if term is not None:  # noted whatever the verdict: a later rule (second opinion) must not lift it to ALLOW
        if worst.decision == "ALLOW":
            worst = _redo(
                worst,
                lang,
                policy,
                decision="ESCALATE",
                category="compliance",
                domain=TRIAGE_DOMAIN,
                reason="severity_floor",
            )
        worst = dataclasses.replace(worst, signals={**worst.signals, "severity_term": term})
    if len(forms) > 1:  # the request hid another readable form: no later rule may lift the verdict
        worst = dataclasses.replace(worst, signals={**worst.signals, "forms": len(forms)})
    return dataclasses.replace(worst, timings=dict(timings or {}))
