"""kb eval-answers: the scoring of grounded answers (a fake answerer; the real one is `so8t kb eval-answers`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import SAMPLE_HANDBOOK, KnowledgeFolder
from kb.answers import evaluate_answers, write_answers
from kb.store import index


class _Quoter:
    """Answers with the first quoted line of the first source, citing it; nothing without documents."""

    def __init__(self) -> None:
        self.calls: list[str | None] = []

    def answer(
        self, context: Any, request: str, max_tokens: int | None = None, documents: str | None = None
    ) -> Iterator[str]:
        self.calls.append(documents)
        quoted = [line[2:] for line in (documents or "").splitlines() if line.startswith("> ") and len(line) > 12]
        yield f"{quoted[0]} [1]" if quoted else "I don't know."


def test_scores_grounding_faithfulness_citations_and_not_found(tmp_path: Path) -> None:
    folders = (KnowledgeFolder(SAMPLE_HANDBOOK),)
    store = tmp_path / "kb.db"
    index(store, folders)
    answerer = _Quoter()
    rows, summary = evaluate_answers(answerer, store, folders)
    assert len(rows) >= 60 and summary["all"]["unanswerable"] and summary["all"]["answerable"]
    # a question with no kept passage is not sent to the model (the bot says no document matched)
    assert len(answerer.calls) == sum(1 for r in rows if not r.not_found)
    assert all(r.answer == "" for r in rows if r.not_found)
    # quoting the first source's first line: cited every time, grounded only where that line holds the fact
    assert summary["all"]["cites"] == pytest.approx(1.0 - (summary["all"]["answerable_not_found"] or 0.0), abs=0.002)
    assert all(r.faithful == r.grounded for r in rows)  # the quoted line came from a given passage
    assert 0.0 < (summary["all"]["grounded"] or 0.0) < 1.0
    write_answers(rows, tmp_path / "answers.md")
    text = (tmp_path / "answers.md").read_text(encoding="utf-8")
    assert "## q01 (en, answerable)" in text and "key fact: 30 days" in text


class _Liar:
    """States a figure no handbook page has, every time."""

    def answer(
        self, context: Any, request: str, max_tokens: int | None = None, documents: str | None = None
    ) -> Iterator[str]:
        yield "It is ¥99,999, see SkyLedger."


def test_answers_stating_what_no_passage_holds_are_replaced_and_counted(tmp_path: Path) -> None:
    folders = (KnowledgeFolder(SAMPLE_HANDBOOK),)
    store = tmp_path / "kb.db"
    index(store, folders)
    rows, summary = evaluate_answers(_Liar(), store, folders)
    answered = [r for r in rows if r.outcome]
    assert answered and all(r.outcome == "extractive_fact" for r in answered)
    assert all("99,999" not in r.posted and r.unsupported == ["jpy 99999", "skyledger"] for r in answered)
    assert summary["all"]["fallback"] == 1.0 and summary["all"]["grounded"] == 0.0
    assert (summary["all"]["posted_faithful"] or 0.0) > 0.3  # the quoted sentences often hold the key fact
    write_answers(rows, tmp_path / "answers.md")
    text = (tmp_path / "answers.md").read_text(encoding="utf-8")
    assert "posted instead:" in text and "not in the passages: jpy 99999, skyledger" in text
    # the stored answers scored again without a model give the same figures
    again, summary2 = evaluate_answers(None, store, folders, replay={r.id: r.answer for r in rows})
    assert summary2 == summary
