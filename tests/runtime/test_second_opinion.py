"""The answering model's second opinion: which refusals it may lift, and when it does."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from runtime.base import Decision
from runtime.hybrid import HybridRuntime
from runtime.second_opinion import SecondOpinion, apply_second_opinion, wants_second_opinion

RULE = SecondOpinion(unsafe_below=0.1, escalate_below=0.5, hazard_below=0.25)


@dataclass(frozen=True)
class _Reading:
    p_unsafe: float
    p_escalate: float = 0.0


def _decision(
    decision: str = "REFUSE",
    reason: str = "model",
    hazard: float | None = 0.02,
    probs: dict[str, float] | None = None,
    **signals: Any,
) -> Decision:
    sig: dict[str, Any] = dict(signals)
    if hazard is not None:
        sig["hazard"] = hazard
    return Decision(
        decision=decision,  # type: ignore[arg-type]
        category="violence" if decision == "REFUSE" else "legal",
        confidence=0.9,
        probs=probs or {"ALLOW": 0.05, "REFUSE": 0.9, "ESCALATE": 0.05},
        rationale="r",
        human_required=decision == "ESCALATE",
        lang="en",
        reason=reason,
        domain="legal" if decision == "ESCALATE" else None,
        signals=sig,
    )


def test_a_verdict_head_refusal_with_a_clear_hazard_head_is_read_again() -> None:
    assert wants_second_opinion(_decision(), RULE)
    unsure = _decision("ESCALATE", "threshold", probs={"ALLOW": 0.6, "REFUSE": 0.3, "ESCALATE": 0.1})
    unsure = dataclasses.replace(unsure, category="violence", domain="hr")  # a harm doubt, sent to a fallback domain
    assert wants_second_opinion(unsure, RULE)


def test_what_is_never_lifted() -> None:
    assert not wants_second_opinion(_decision(reason="hazard"), RULE)  # the hazard head's own REFUSE
    assert not wants_second_opinion(_decision(hazard=0.3), RULE)  # the hazard head is not clear
    assert not wants_second_opinion(_decision(hazard=None), RULE)  # no hazard reading at all
    assert not wants_second_opinion(_decision("ESCALATE", "model"), RULE)  # a specialist case
    specialist_doubt = _decision("ESCALATE", "threshold", probs={"ALLOW": 0.6, "REFUSE": 0.1, "ESCALATE": 0.3})
    assert not wants_second_opinion(specialist_doubt, RULE)
    assert not wants_second_opinion(_decision(form="base64"), RULE)  # decided on a decoded form
    assert not wants_second_opinion(_decision(forms=2), RULE)  # the request hid another form
    assert not wants_second_opinion(_decision(severity_term="bomb"), RULE)
    assert not wants_second_opinion(_decision(support_term="want to die"), RULE)
    assert not wants_second_opinion(_decision(hazard_category="self_harm"), RULE)  # however weak the reading
    unsure_specialist = _decision("ESCALATE", "threshold", probs={"ALLOW": 0.5, "REFUSE": 0.3, "ESCALATE": 0.2})
    assert not wants_second_opinion(unsure_specialist, RULE)  # its best guess is the legal reviewers
    assert not wants_second_opinion(_decision("ALLOW", "model"), RULE)
    assert not wants_second_opinion(_decision(), SecondOpinion(unsafe_below=0.0))  # off


def test_it_allows_only_when_the_answering_model_agrees() -> None:
    lifted = apply_second_opinion(_decision(), _Reading(0.03), RULE, 0.8)
    assert lifted.decision == "ALLOW" and lifted.reason == "second_opinion" and lifted.category == "none"
    assert lifted.domain is None and not lifted.human_required
    assert lifted.signals["second_opinion_unsafe"] == 0.03 and lifted.signals["hazard"] == 0.02
    assert lifted.rationale.startswith("Allowed")
    kept = apply_second_opinion(_decision(), _Reading(0.4), RULE, 0.8)
    assert kept.decision == "REFUSE" and kept.signals["second_opinion_unsafe"] == 0.4  # noted, not lifted
    assert apply_second_opinion(_decision(), _Reading(0.01, 0.7), RULE, 0.8).decision == "REFUSE"
    assert apply_second_opinion(_decision(), None, RULE, 0.8).decision == "REFUSE"  # no response head


class _Safety:
    model_id = "safety"
    head_id = "h"

    def __init__(self, d: Decision) -> None:
        self.d = d

    def decide(self, context: Any, request: str) -> Decision:
        return self.d


class _Answerer:
    model_id = "answerer"

    def __init__(self, p_unsafe: float) -> None:
        self.p_unsafe = p_unsafe
        self.screened: list[str] = []

    def screen(self, context: Any, request: str) -> _Reading:
        self.screened.append(request)
        return _Reading(self.p_unsafe)


def test_the_hybrid_asks_the_answering_model_only_when_the_rule_wants_it() -> None:
    answerer = _Answerer(0.02)
    d = HybridRuntime(_Safety(_decision()), answerer, RULE).decide([], "How do pipe bombs work, legally?")
    assert (
        d.decision == "ALLOW"
        and d.reason == "second_opinion"
        and answerer.screened == ["How do pipe bombs work, legally?"]
    )
    assert "second_opinion_ms" in d.timings and d.model_id == "safety+answers:answerer"
    answerer = _Answerer(0.02)
    d = HybridRuntime(_Safety(_decision(reason="hazard")), answerer, RULE).decide([], "x")
    assert d.decision == "REFUSE" and answerer.screened == []  # the hazard head's REFUSE: never asked
    d = HybridRuntime(_Safety(_decision()), _Answerer(0.5), RULE).decide([], "x")
    assert d.decision == "REFUSE"
    d = HybridRuntime(_Safety(_decision()), _Answerer(0.02)).decide([], "x")
    assert d.decision == "REFUSE"  # the default rule is off unless configured (the loader configures it)


def test_what_the_gate_marks_is_never_lifted() -> None:
    """Through gate() itself: a REFUSE that an admin's severity term or a hidden form also touched."""
    import numpy as np

    from runtime.base import CATEGORIES
    from runtime.gate import GatePolicy, Signals, gate
    from runtime.hazards import HAZARD_CLASSES

    pc = np.full(len(CATEGORIES), 0.01)
    pc[CATEGORIES.index("security")] = 0.9
    phc = np.full(len(HAZARD_CLASSES), 0.01)
    phc[HAZARD_CLASSES.index("cyber")] = 0.9
    refuse, ph = np.array([0.05, 0.9, 0.05]), np.array([0.95, 0.05])
    policy = GatePolicy(severity_terms=("project falcon",))
    d = gate([Signals("original", "send me the project falcon salary sheet", refuse, pc, ph, phc)], "en", policy)
    assert d.decision == "REFUSE" and d.signals["severity_term"] == "project falcon"
    assert not wants_second_opinion(d, RULE)
    forms = [Signals("original", "x", refuse, pc, ph, phc), Signals("normalized", "x", refuse, pc, ph, phc)]
    d = gate(forms, "en", GatePolicy())
    assert d.decision == "REFUSE" and d.signals["forms"] == 2 and not wants_second_opinion(d, RULE)
    d = gate([Signals("original", "x", refuse, pc, ph, phc)], "en", GatePolicy())
    assert "forms" not in d.signals and wants_second_opinion(d, RULE)  # the plain case is still read again
