"""`so8t eval-answers` end to end with a scripted answer model: table, report, JSON, clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import answers as cli_answers
from cli.answers import QUESTIONS_FILE, load_questions
from cli.main import main
from runtime.base import Turn
from runtime.lang import detect_lang


class _Tokens:
    def tokenize(self, data: bytes, add_bos: bool = False, special: bool = False) -> list[int]:
        return list(range(len(data.split())))


class _ScriptedAnswers:
    """Answers Japanese in Japanese with the question's first key term, and English by looping."""

    name = "scripted"
    model_id = "scripted@0"
    system_prompt = "You are a test."
    llm = _Tokens()

    def answer(self, context: Sequence[Turn], request: str, max_tokens: int | None = None) -> Iterator[str]:
        if detect_lang(request) == "ja":
            yield from ("答えは ", "`git switch -c x` ", "です。")
        else:
            yield from ["Use git switch -c x again. "] * 4


def test_the_shipped_questions_are_half_japanese_half_english_with_key_terms() -> None:
    rows = load_questions(QUESTIONS_FILE)
    assert len(rows) >= 60 and len({r["id"] for r in rows}) == len(rows)
    assert sum(r["lang"] == "ja" for r in rows) == sum(r["lang"] == "en" for r in rows)
    for r in rows:
        assert detect_lang(r["question"]) == r["lang"], r["id"]
        assert 1 <= len(r["key_terms"]) <= 3 and all(t == t.lower() and t for t in r["key_terms"]), r["id"]
    assert len({r["topic"] for r in rows}) >= 9


def test_eval_answers_prints_the_table_and_writes_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "q.jsonl"
    rows = [
        {"id": "ja-1", "lang": "ja", "topic": "git", "question": "ブランチの作り方は？", "key_terms": ["switch -c"]},
        {"id": "en-1", "lang": "en", "topic": "git", "question": "New branch?", "key_terms": ["switch -c"]},
    ]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setattr(cli_answers, "_answer_runtime", lambda state, model, max_tokens: _ScriptedAnswers())
    monkeypatch.setattr(cli_answers, "_guard_class", lambda: None)
    out, js = tmp_path / "r.md", tmp_path / "r.json"
    res = CliRunner().invoke(main, ["eval-answers", "--data", str(data), "--out", str(out), "--json", str(js)])
    assert res.exit_code == 0, res.output
    assert "| **usable** | 0.50 | 0.00 | 1.00 |" in res.output and "| no_loop | 0.50 | 0.00 | 1.00 |" in res.output
    report = out.read_text(encoding="utf-8")
    assert "### ja-1 (git) — usable" in report and "### en-1 (git) — NOT usable" in report
    assert "no_loop NO" in report and "Use git switch -c x again." in report
    summary: dict[str, Any] = json.loads(js.read_text(encoding="utf-8"))
    assert summary["raw"]["ja"]["usable"] == 1.0 and summary["records"][1]["raw"]["no_loop"] is False
    jsonl = tmp_path / "r.jsonl"
    res = CliRunner().invoke(main, ["eval-answers", "--data", str(data), "--out", str(jsonl)])
    assert res.exit_code == 0 and len(jsonl.read_text(encoding="utf-8").splitlines()) == 2

    # the saved run scored again against changed key terms, without a model
    monkeypatch.setattr(cli_answers, "_answer_runtime", lambda *a: pytest.fail("--rescore loads no model"))
    rows[0]["key_terms"] = ["checkout -b"]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    res = CliRunner().invoke(
        main, ["eval-answers", "--data", str(data), "--rescore", str(js), "--out", str(tmp_path / "again.md")]
    )
    assert res.exit_code == 0, res.output
    assert "| **usable** | 0.00 | 0.00 | 0.00 |" in res.output and "missing: checkout -b" in (
        tmp_path / "again.md"
    ).read_text(encoding="utf-8")


def test_a_bad_questions_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "no language"}\n', encoding="utf-8")
    res = CliRunner().invoke(main, ["eval-answers", "--data", str(bad)])
    assert res.exit_code == 2 and "q.jsonl:1: each line needs id, lang" in res.output


class _FakeGuard:
    """Stops at the piece "LOOP"; shortens a budget-hit answer to its first sentence with the marker."""

    def __init__(self, lang: str, marker: str, instructions: Sequence[str] = ()) -> None:
        self.marker, self.text, self.fed = marker, "", 0

    def feed(self, piece: str) -> bool:
        self.fed += 1
        if piece == "LOOP":
            return True
        self.text += piece
        return False

    def finish(self, *, budget_hit: bool = False) -> Any:
        class _R:
            fallback = not self.text.strip()
            outcome = "fallback_empty" if fallback else ("shortened" if budget_hit else "ok")
            text = self.text.split(".")[0] + ".\n" + self.marker if budget_hit else self.text

        return _R()


def test_the_guard_is_replayed_on_the_streamed_pieces_as_the_bot_feeds_it() -> None:
    outcome, text = cli_answers._guarded(_FakeGuard, ["Run it. ", "Then ", "LOOP", "never fed"], "en", "sp", False)
    assert (outcome, text) == ("ok", "Run it. Then")
    outcome, text = cli_answers._guarded(_FakeGuard, ["Run it. ", "Then the"], "en", "sp", True)
    assert (outcome, text) == ("shortened", "Run it.")  # the marker is not part of the answer scored
    assert cli_answers._guarded(_FakeGuard, ["LOOP"], "en", "sp", False) == ("fallback_empty", "")
