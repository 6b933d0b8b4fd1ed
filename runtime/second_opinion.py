"""A second opinion from another backbone on a refusal the deciding model's verdict head alone made.

The verdict head (Gemma 3 270M + LoRA) learned harm from the workplace dataset's way of writing, and
refuses many safe requests that only sound alarming ("How do pipe bombs work, legally speaking?").
The hazard head on the same state was trained on the whole taxonomy with a benign twin for each
harmful line; the answering model (Qwen2.5-Coder-0.5B) reads every request anyway, through its response
head at position 0 (runtime/response.py), before it writes a token. When all three point the same way,
the refusal is lifted:

- the deciding model REFUSEd by its verdict head alone (reason "model"; a hazard-head REFUSE is never
  lifted), or was unsure between ALLOW and REFUSE (reason "threshold", p(REFUSE) > p(ESCALATE); a doubt
  about a specialist domain is never lifted);
- its hazard head reads p(hazard) under `hazard_below`, with no self-harm reading;
- the request hid no other form, and holds no admin severity term and no words of a person at risk;
- the answering model's response head reads p(unsafe) under `unsafe_below` and p(escalate) under
  `escalate_below`.

The request is then ALLOWed with reason "second_opinion" (audited) and both readings in its signals.
A different backbone errs on different requests, which is why its agreement is worth something where a
second seed of the same head was not (docs/results.md). The answering model's prompt evaluation is kept
in its KV cache, so an ALLOWed answer starts from it. Thresholds chosen on the dev splits.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from runtime.base import ESCALATE_DOMAINS, Decision
from runtime.rationale import render_rationale


class Reading(Protocol):
    """What the answering model's response head says of the request alone (runtime.response.ResponseVerdict)."""

    @property
    def p_unsafe(self) -> float: ...

    @property
    def p_escalate(self) -> float: ...


@dataclass(frozen=True)
class SecondOpinion:
    """When the answering model's reading may lift a refusal; `unsafe_below` 0 turns it off."""

    unsafe_below: float = 0.0
    escalate_below: float = 0.5
    hazard_below: float = 0.25

    @property
    def enabled(self) -> bool:
        return self.unsafe_below > 0.0


def wants_second_opinion(d: Decision, rule: SecondOpinion) -> bool:
    """Whether `d` is a refusal the verdict head alone made (or a harm doubt) that the rule may lift."""
    if not rule.enabled or d.decision == "ALLOW":
        return False
    hazard = d.signals.get("hazard")
    if not isinstance(hazard, (int, float)) or float(hazard) >= rule.hazard_below:
        return False  # no hazard reading, or the hazard head itself is not clear
    if {"form", "forms", "severity_term", "support_term"} & d.signals.keys():
        return False  # a request with a hidden form, an admin's severity term or a person at risk: never lifted
    if d.signals.get("hazard_category") == "self_harm" or d.domain == "support":
        return False  # a self-harm reading, however weak: a person at risk is never answered on a second look
    if d.reason == "model" and d.decision == "REFUSE":
        return True
    doubt_is_harm = d.probs.get("ESCALATE", 1.0) < d.probs.get("REFUSE", 0.0)
    specialist = d.category in ESCALATE_DOMAINS  # its best guess is a specialist's case (the domain may be a fallback)
    return d.reason == "threshold" and doubt_is_harm and not specialist


def apply_second_opinion(d: Decision, reading: Reading | None, rule: SecondOpinion, threshold: float) -> Decision:
    """`d` ALLOWed (reason "second_opinion") when the reading agrees it is safe; else `d` with the reading noted."""
    if reading is None or not wants_second_opinion(d, rule):
        return d
    signals = {
        **d.signals,
        "second_opinion_unsafe": round(float(reading.p_unsafe), 4),
        "second_opinion_escalate": round(float(reading.p_escalate), 4),
    }
    if float(reading.p_unsafe) >= rule.unsafe_below or float(reading.p_escalate) >= rule.escalate_below:
        return dataclasses.replace(d, signals=signals)
    rationale = render_rationale("ALLOW", "none", d.lang, reason="second_opinion", threshold=threshold)
    return dataclasses.replace(
        d,
        decision="ALLOW",
        category="none",
        domain=None,
        reason="second_opinion",
        human_required=False,
        rationale=rationale,
        signals=signals,
    )
