"""A hybrid for base backbones: one model decides (its safety head), another writes ALLOW answers.

Gemma 3 270M is a base model: its hidden states separate Japanese requests far better than SmolLM2's,
but it cannot follow a chat turn. With `model.answer_model` (SO8T_ANSWER_MODEL) set, the safety model
decides first, exactly as alone, and an ALLOWed request is evaluated a second time, by the answer
model (the cost of that second prompt evaluation is measured by `so8t bench`); so is a refusal that the
verdict head alone made, for the answering model's second opinion (runtime/second_opinion.py).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from typing import Any

from runtime.base import SAFETY_THRESHOLD, Decision, Turn
from runtime.second_opinion import SecondOpinion, apply_second_opinion, wants_second_opinion


class HybridRuntime:
    """decide() on `safety`; answer() on `answerer` (a second prompt evaluation, on ALLOW only, or on a
    refusal the verdict head alone made, for the answering model's second opinion: runtime/second_opinion.py)."""

    def __init__(self, safety: Any, answerer: Any, second_opinion: SecondOpinion | None = None) -> None:
        self.safety = safety
        self.answerer = answerer
        self.second_opinion = second_opinion or SecondOpinion()

    @property
    def model_id(self) -> str:
        return f"{self.safety.model_id}+answers:{self.answerer.model_id}"

    @property
    def head_id(self) -> str:
        return str(self.safety.head_id)

    def decide(self, context: Sequence[Turn], request: str) -> Decision:
        """The safety model's verdict, stamped with the whole served identity (audited as such); a refusal
        the verdict head alone made is read again by the answering model (its KV cache kept for the answer)."""
        d = self.safety.decide(context, request)
        if wants_second_opinion(d, self.second_opinion):
            t0 = time.perf_counter()
            reading = self.screen(context, request)
            threshold = float(getattr(getattr(self.safety, "policy", None), "threshold", SAFETY_THRESHOLD))
            d = apply_second_opinion(d, reading, self.second_opinion, threshold)
            timings = {**d.timings, "second_opinion_ms": round((time.perf_counter() - t0) * 1000, 1)}
            d = dataclasses.replace(d, timings=timings)
        return dataclasses.replace(d, model_id=self.model_id)

    def answer(
        self, context: Sequence[Turn], request: str, max_tokens: int | None = None, documents: str | None = None
    ) -> Iterator[str]:
        if documents is None:
            return self.answerer.answer(context, request, max_tokens)  # type: ignore[no-any-return]
        return self.answerer.answer(context, request, max_tokens, documents)  # type: ignore[no-any-return]

    def screen(self, context: Sequence[Turn], request: str) -> Any:
        """The answer model's response head on the request alone (runtime/response.py), None without one."""
        screen = getattr(self.answerer, "screen", None)
        return screen(context, request) if callable(screen) else None

    @property
    def last_finish_reason(self) -> str | None:
        """Why the answer model's last answer ended ("length": its token budget ran out)."""
        reason = getattr(self.answerer, "last_finish_reason", None)
        return None if reason is None else str(reason)

    @property
    def last_response(self) -> Any:
        """The answer model's response head's last reading (runtime/response.py), None without one."""
        return getattr(self.answerer, "last_response", None)

    @property
    def response_head_id(self) -> str | None:
        head_id = getattr(self.answerer, "response_head_id", None)
        return None if head_id is None else str(head_id)

    def info(self) -> dict[str, object]:
        info = dict(self.safety.info())
        answer_info = self.answerer.info()
        info["answer_model"] = answer_info["model"]
        info["answer_licence"] = answer_info.get("licence")
        info["response_head"] = answer_info.get("response_head")
        return info
