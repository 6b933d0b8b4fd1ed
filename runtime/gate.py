"""The non-commutative gate: from head probabilities to a Decision, before any answer exists.

Pure functions (no model) so the policy is tested on its own.
"""

from __future__ import annotations

import numpy as np

from runtime.base import CATEGORIES, ESCALATE_DOMAINS, LABELS, REFUSE_CATEGORIES, Decision, Verdict
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
