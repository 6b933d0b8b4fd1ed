"""The answer watched as it streams: a response head on the answering model's own hidden states.

While an ALLOW answer is generated, the runtime reads the last token's hidden state at sentence ends
(and every `every` tokens inside a long sentence) from the same KV cache it generates with, with no
second pass: switching llama.cpp's embeddings output on for that one token costs a copy of n_embd
floats. The response head (trained by `so8t train-response` on the answering model's states of a
request plus an answer so far) says whether the answer may go on: safe, unsafe (a hazard of the
taxonomy) or escalate (individual legal, medical, HR, privacy or compliance advice). Text is released
to the asker only up to the last position that was checked, so an answer stopped at a sentence end
never shows that sentence. Position 0 (the request itself, before any answer token) is checked too: a
second reading of the request by another model, on the ALLOW answers only, where it is free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.errors import HeadError
from runtime.hazards import HAZARD_CLASSES
from runtime.head import SafetyHead

RESPONSE_LABELS: tuple[str, ...] = ("safe", "unsafe", "escalate")
SPECIALIST_CLASSES: tuple[str, ...] = ("legal", "medical", "hr", "compliance")
# hazard categories, then the specialist domains an answer must not advise in ("privacy" is in both)
RESPONSE_CLASSES: tuple[str, ...] = HAZARD_CLASSES + SPECIALIST_CLASSES

# a sentence ends at . ! ? (followed by space or end), at 。！？, or at a line break
_SENTENCE_END = re.compile(r"(?:[.!?](?:\s|$)|[。！？]|\n)")


def ends_sentence(piece: str) -> bool:
    """Whether a streamed piece closes a sentence (or a line), the positions the head reads."""
    return bool(_SENTENCE_END.search(piece))


def response_text(request: str, answer: str) -> str:
    """What the head's n-grams read: the request and the answer so far."""
    return f"{request}\n{answer}" if answer else request


@dataclass(frozen=True)
class ResponseVerdict:
    """The response head's reading at one position of the answer."""

    label: str  # safe | unsafe | escalate
    category: str  # a hazard (unsafe) or a specialist domain (escalate); "none" when safe
    p_unsafe: float
    p_escalate: float
    position: int  # answer tokens generated when it was read (0: the request alone)
    checks: int  # how many positions were read up to and including this one

    @property
    def flagged(self) -> bool:
        return self.label != "safe"

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "category": self.category,
            "p_unsafe": round(self.p_unsafe, 4),
            "p_escalate": round(self.p_escalate, 4),
            "position": self.position,
            "checks": self.checks,
        }


@dataclass(frozen=True)
class ResponsePolicy:
    unsafe_threshold: float = 0.6  # p(unsafe) of the request alone (position 0) at or above it: REFUSE
    escalate_threshold: float = 0.6  # p(escalate) at or above it stops the answer (a person takes the case)
    every: int = 32  # also read the state after this many tokens without a sentence end
    # p(unsafe) at or above it stops an answer once it is being written (positions after 0); None = as above
    answer_threshold: float | None = 0.95

    def unsafe_at(self, position: int) -> float:
        if position > 0 and self.answer_threshold is not None:
            return self.answer_threshold
        return self.unsafe_threshold


class ResponseHead:
    """A SafetyHead over RESPONSE_LABELS x RESPONSE_CLASSES, bound to the answering model's prompt format."""

    def __init__(self, head: SafetyHead, policy: ResponsePolicy | None = None) -> None:
        self.head = head
        self.policy = policy or ResponsePolicy()

    @property
    def head_id(self) -> str:
        return self.head.head_id

    @classmethod
    def load(cls, path: Path, *, state_key: str, n_embd: int, policy: ResponsePolicy | None = None) -> ResponseHead:
        head = SafetyHead.load(path, labels=RESPONSE_LABELS, categories=RESPONSE_CLASSES)
        trained_for = str(head.meta.get("state_key", ""))
        if head.params.use_hidden and (trained_for != state_key or head.n_embd != n_embd):
            raise HeadError(
                f"response head {path.name} was trained on states {trained_for or '?'} of {head.backbone_name}, not "
                f"the answering model's ({state_key}); train one with `so8t train-response` or set "
                "SO8T_RESPONSE_HEAD=off"
            )
        return cls(head, policy)

    def read(self, state: np.ndarray, request: str, answer: str, *, position: int, checks: int) -> ResponseVerdict:
        pv, pc = self.head.predict(state[None, :], [response_text(request, answer)])
        p_unsafe, p_escalate = float(pv[0, 1]), float(pv[0, 2])
        unsafe_threshold = self.policy.unsafe_at(position)
        label = "safe"
        if p_unsafe >= unsafe_threshold and p_unsafe >= p_escalate:
            label = "unsafe"
        elif p_escalate >= self.policy.escalate_threshold:
            label = "escalate"
        elif p_unsafe >= unsafe_threshold:
            label = "unsafe"
        category = "none"
        if label != "safe":
            pool = HAZARD_CLASSES[1:] if label == "unsafe" else ("privacy", *SPECIALIST_CLASSES)
            idx = [RESPONSE_CLASSES.index(c) for c in pool]
            category = pool[int(np.argmax(pc[0, idx]))]
        return ResponseVerdict(label, category, p_unsafe, p_escalate, position, checks)
