"""Fakes shared by tests: a deterministic keyword FakeRuntime (the model's stand-in until tests
use the real file), configurable to fail, to block on an event, or to simulate model time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from runtime.base import Decision, Turn
from runtime.lang import detect_lang
from runtime.response import ResponseVerdict

# (keywords, verdict, category)
RULES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("malware", "steal the password", "hack into", "ハッキング", "パスワードを盗"), "REFUSE", "security"),
    (("insult", "嫌がらせ"), "REFUSE", "harassment"),
    (("lawsuit", "sue ", "訴訟"), "ESCALATE", "legal"),
    (("diagnos", "medication", "診断", "薬"), "ESCALATE", "medical"),
    (("salary", "my manager", "parental leave", "給与", "人事", "上司"), "ESCALATE", "hr"),
    (("personal data", "個人情報"), "ESCALATE", "privacy"),
    (("export control", "insider", "インサイダー"), "ESCALATE", "compliance"),
    (("want to die", "死にたい"), "ESCALATE", "self_harm"),
)


@dataclass
class FakeRuntime:
    """Keyword rules -> Decision; `answer` streams 'Answer: <request>' in pieces.

    - text containing 'boom' makes decide raise; 'answer-crash' makes answer raise midway
    - `gate`: when set to an Event, decide blocks until it is set (tests of the queue, no sleeps)
    - `delay_s`: model time per decide (the restart subprocess uses it to die mid-flow)
    It asserts the runtime contract: never two calls at once; answer only right after decide.
    """

    delay_s: float = 0.0
    gate: threading.Event | None = None
    model_id: str = "fake-model"
    head_id: str = "fake-head"
    calls: list[tuple[str, str]] = field(default_factory=list)
    contexts: list[list[Turn]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    documents: list[str | None] = field(default_factory=list)  # what each answer() was given to cite
    entered: threading.Event = field(default_factory=threading.Event)  # set once decide has been called
    _active: int = 0
    _last_decided: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _enter(self) -> None:
        with self._lock:
            self._active += 1
            if self._active > 1:
                self.violations.append("concurrent call")

    def _exit(self) -> None:
        with self._lock:
            self._active -= 1

    def decide(self, context: Sequence[Turn], request: str) -> Decision:
        self._enter()
        try:
            self.calls.append(("decide", request))
            self.contexts.append(list(context))
            self._last_decided = request
            self.entered.set()
            if self.gate is not None:
                self.gate.wait(timeout=30)
            if self.delay_s:
                time.sleep(self.delay_s)  # simulated model time, not a test wait
            if "boom" in request:
                raise RuntimeError("fake decide failure")
            lower = request.lower()
            verdict, category = "ALLOW", "none"
            for words, v, c in RULES:
                if any(w in lower for w in words):
                    verdict, category = v, c
                    break
            probs = {"ALLOW": 0.05, "REFUSE": 0.05, "ESCALATE": 0.05}
            probs[verdict] = 0.9
            return Decision(
                decision=verdict,  # type: ignore[arg-type]
                category=category,
                confidence=0.9,
                probs=probs,
                rationale=f"fake rationale: {category}",
                human_required=verdict == "ESCALATE",
                lang=detect_lang(request),
                domain=("support" if category == "self_harm" else category) if verdict == "ESCALATE" else None,
                timings={"decide_ms": 1.0},
                model_id=self.model_id,
                head_id=self.head_id,
            )
        finally:
            self._exit()

    def _begin_answer(self, request: str) -> None:
        """Record the call and check the contract: an answer only right after its decide."""
        self.calls.append(("answer", request))
        if self._last_decided != request:
            self.violations.append("answer without decide")
        self._last_decided = None

    def answer(
        self, context: Sequence[Turn], request: str, max_tokens: int | None = None, documents: str | None = None
    ) -> Iterator[str]:
        self._enter()
        try:
            self._begin_answer(request)
            self.documents.append(documents)
            cited = " (from [1])" if documents and "[1]" in documents else ""
            words = f"Answer: {request[:60]}{cited}".split(" ")
            for i, w in enumerate(words):
                if "answer-crash" in request and i == 1:
                    raise RuntimeError("fake answer failure")
                yield (" " if i else "") + w
        finally:
            self._exit()

    def info(self) -> dict[str, object]:
        return {"model_id": self.model_id, "head_id": self.head_id, "fake": True}


@dataclass
class ScriptedRuntime(FakeRuntime):
    """FakeRuntime whose answers to some requests are scripted: the pieces and why generation ended
    ("length": the token budget ran out), as a real model's degenerate answers come. `yielded` counts
    the pieces the bot actually took, so a test sees generation stop at a loop."""

    scripts: dict[str, tuple[list[str], str]] = field(default_factory=dict)
    yielded: dict[str, int] = field(default_factory=dict)
    last_finish_reason: str | None = None
    # a script whose reason is "flagged" ends with this response-head verdict (runtime/response.py)
    flags: dict[str, ResponseVerdict] = field(default_factory=dict)
    last_response: ResponseVerdict | None = None
    response_head_id: str = "response-fake"

    def answer(
        self, context: Sequence[Turn], request: str, max_tokens: int | None = None, documents: str | None = None
    ) -> Iterator[str]:
        self.last_finish_reason = None
        self.last_response = self.flags.get(request)
        if request not in self.scripts:
            yield from super().answer(context, request, max_tokens, documents)
            self.last_finish_reason = "stop"
            return
        self._enter()
        try:
            self._begin_answer(request)
            pieces, reason = self.scripts[request]
            for piece in pieces:
                self.yielded[request] = self.yielded.get(request, 0) + 1
                yield piece
            self.last_finish_reason = reason
        finally:
            self._exit()
