"""Types that cross the runtime boundary: the Decision and the Runtime protocol.

Nothing here imports llama_cpp; the bot and the tests depend only on this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Verdict = Literal["ALLOW", "REFUSE", "ESCALATE"]
LABELS: tuple[Verdict, ...] = ("ALLOW", "REFUSE", "ESCALATE")
CATEGORIES: tuple[str, ...] = (
    "security",
    "harassment",
    "fraud",
    "privacy",
    "violence",
    "legal",
    "medical",
    "hr",
    "compliance",
    "none",
)
# The one default of `safety_threshold`: a top probability below it gives ESCALATE (when unsure, a person
# decides). config.yaml's safety_threshold overrides it; training, fusing and retraining measure with it.
SAFETY_THRESHOLD = 0.8
REFUSE_CATEGORIES: tuple[str, ...] = ("security", "harassment", "fraud", "privacy", "violence")
ESCALATE_DOMAINS: tuple[str, ...] = ("legal", "medical", "hr", "privacy", "compliance")
# Every reviewers' channel: the head's domains, plus support (self-harm: a person reaches out at once)
# and triage (the domain is unsure: a person routes the case rather than a guessed domain seeing it).
REVIEW_DOMAINS: tuple[str, ...] = (*ESCALATE_DOMAINS, "support", "triage")


@dataclass(frozen=True)
class Turn:
    """One earlier message of the thread, given to the model as context."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class Decision:
    """The safety head's verdict on one request (R_safe), computed before any answer (R_cmd)."""

    decision: Verdict
    category: str
    confidence: float
    probs: dict[str, float]
    rationale: str
    human_required: bool
    lang: str = "en"
    # model | threshold | runtime_error | empty_input | hazard | hazard_unsure | self_harm | severity_floor
    reason: str = "model"
    domain: str | None = None  # reviewer domain for ESCALATE
    timings: dict[str, float] = field(default_factory=dict)
    model_id: str = ""
    head_id: str = ""
    signals: dict[str, float | str] = field(default_factory=dict)  # hazard head, decoded form, severity term

    def to_dict(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "category": self.category,
            "confidence": round(self.confidence, 4),
            "probs": {k: round(v, 4) for k, v in self.probs.items()},
            "rationale": self.rationale,
            "human_required": self.human_required,
            "lang": self.lang,
            "reason": self.reason,
            "domain": self.domain,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "model_id": self.model_id,
            "head_id": self.head_id,
            "signals": dict(self.signals),
        }


class Runtime(Protocol):
    """What the bot needs from a model. `decide` must run before `answer` for the same request."""

    @property
    def model_id(self) -> str: ...

    @property
    def head_id(self) -> str: ...

    def decide(self, context: Sequence[Turn], request: str) -> Decision: ...

    def answer(
        self, context: Sequence[Turn], request: str, max_tokens: int | None = None, documents: str | None = None
    ) -> Iterator[str]:
        """Stream the ALLOW answer in pieces; continues from the KV cache that `decide` left. `documents`:
        the team's passages (kb.render) that the answer is written from, quoted as data."""
        ...

    def info(self) -> dict[str, object]: ...
