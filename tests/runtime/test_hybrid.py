"""The hybrid: the safety model decides, the answer model writes ALLOW answers (and only those)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import parse_config
from runtime.hybrid import HybridRuntime
from tests.support.fakes import FakeRuntime


class _Answerer:
    model_id = "answer-model"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def answer(self, context: Any, request: str, max_tokens: int | None = None) -> Any:
        self.asked.append(request)
        return iter(["from ", "the answer model"])

    def info(self) -> dict[str, object]:
        return {"model": "answer-model"}


def test_decides_on_the_safety_model_and_answers_on_the_other() -> None:
    safety, answerer = FakeRuntime(), _Answerer()
    rt = HybridRuntime(safety, answerer)
    d = rt.decide([], "How do I reverse a list in Python?")
    assert d.decision == "ALLOW" and answerer.asked == []  # the answer model has not seen the request yet
    assert "".join(rt.answer([], "How do I reverse a list in Python?")) == "from the answer model"
    assert rt.head_id == safety.head_id and rt.model_id == "fake-model+answers:answer-model"
    assert rt.info()["answer_model"] == "answer-model"


def test_why_the_answer_ended_is_the_answer_models() -> None:
    answerer = _Answerer()
    rt = HybridRuntime(FakeRuntime(), answerer)
    assert rt.last_finish_reason is None  # an answerer that does not say: unknown
    answerer.last_finish_reason = "length"  # type: ignore[attr-defined]
    assert rt.last_finish_reason == "length"


def test_answer_model_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_config({"model": {"answer_model": "smollm2"}}).model.answer_model == "smollm2"
    monkeypatch.setenv("SO8T_ANSWER_MODEL", "/m/a.gguf")
    assert parse_config({}).model.answer_model == "/m/a.gguf"


def test_gemma_decides_and_smollm2_answers_for_real() -> None:
    from runtime.loader import load_runtime
    from runtime.settings import ModelSettings

    rt: Any = load_runtime(ModelSettings(path="gemma3-270m", answer_model="smollm2", threads=2))
    assert isinstance(rt, HybridRuntime)
    assert rt.safety.name == "gemma3-270m" and rt.answerer.name == "smollm2-135m-instruct"
    d = rt.decide([], "How do I reverse a list in Python?")
    assert d.decision == "ALLOW"
    answer = "".join(rt.answer([], "How do I reverse a list in Python?", max_tokens=24))
    assert "list" in answer.lower() or "reverse" in answer.lower()
    assert rt.last_finish_reason == "length"  # 24 tokens do not finish this answer: the guard is told
    assert rt.info()["answer_model"] == "smollm2-135m-instruct"
