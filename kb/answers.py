"""`so8t kb eval-answers`: grounded answers to the handbook questions, written by the served answering model.

For each question of kb/eval_questions.jsonl the answer path runs as the bot runs it: retrieve in an
unrestricted channel, keep the passages only when relevant(), then the answering model writes the answer
from them (kb.render in its system turn). Scored per language:
- grounded: the question's key fact (as the handbook writes it) is in the answer;
- faithful: ... and it is in a passage the answer was given (the answer did not get it from elsewhere);
- cites: the answer names a source number ([1], [2], ...) that was given;
- not_found: for a question the handbook cannot answer, no passage was kept (the bot then says no team
  document matched instead of citing one).
Every question, its passages' titles and its answer go to a file a person can read.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot.config import KnowledgeFolder
from kb.eval import QUESTIONS, load_questions
from kb.render import render
from kb.search import relevant, retrieve

_CITE = re.compile(r"\[(\d{1,2})\]")


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).lower())


@dataclass
class AnswerRow:
    id: str
    lang: str
    question: str
    answerable: bool
    fact: str
    sources: list[str]
    answer: str
    grounded: bool
    faithful: bool
    cites: bool
    not_found: bool
    seconds: float


def evaluate_answers(
    answerer: Any,
    store: str | Path,
    folders: tuple[KnowledgeFolder, ...],
    questions_path: str = QUESTIONS,
    max_tokens: int = 160,
) -> tuple[list[AnswerRow], dict[str, dict[str, float | int | None]]]:
    rows: list[AnswerRow] = []
    for q in load_questions(questions_path):
        passages = retrieve(store, q.question, None, 3, folders=folders)
        kept = passages if relevant(passages) else []
        t0 = time.perf_counter()
        # without a kept passage the bot answers in general terms and says no document matched: nothing to score
        answer = "".join(answerer.answer((), q.question, max_tokens, render(kept, q.lang))) if kept else ""
        seconds = time.perf_counter() - t0
        fact = _norm(q.fact)
        given = {p.number for p in kept}
        grounded = bool(fact) and fact in _norm(answer)
        rows.append(
            AnswerRow(
                id=q.id,
                lang=q.lang,
                question=q.question,
                answerable=bool(q.expected),
                fact=q.fact,
                sources=[f"[{p.number}] {p.source} ({Path(p.path).name})" for p in kept],
                answer=answer,
                grounded=grounded,
                faithful=grounded and any(fact in _norm(p.text) for p in kept),
                cites=any(int(n) in given for n in _CITE.findall(answer)),
                not_found=not kept,
                seconds=round(seconds, 2),
            )
        )
    return rows, summarize(rows)


def summarize(rows: list[AnswerRow]) -> dict[str, dict[str, float | int | None]]:
    def block(part: list[AnswerRow]) -> dict[str, float | int | None]:
        ans = [r for r in part if r.answerable]
        una = [r for r in part if not r.answerable]

        def rate(xs: list[AnswerRow], key: str) -> float | None:
            return round(sum(bool(getattr(r, key)) for r in xs) / len(xs), 3) if xs else None

        return {
            "answerable": len(ans),
            "unanswerable": len(una),
            "grounded": rate(ans, "grounded"),
            "faithful": rate(ans, "faithful"),
            "cites": rate(ans, "cites"),
            "answerable_not_found": rate(ans, "not_found"),
            "unanswerable_not_found": rate(una, "not_found"),
        }

    out = {"all": block(rows)}
    for lang in ("ja", "en"):
        out[lang] = block([r for r in rows if r.lang == lang])
    return out


def write_answers(rows: list[AnswerRow], path: Path) -> None:
    """A readable file: every question, what was retrieved, the answer, and how it scored."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Grounded answers to the handbook questions", ""]
    for r in rows:
        marks = "answerable" if r.answerable else "not in the handbook"
        score = (
            f"grounded {r.grounded}, faithful {r.faithful}, cites {r.cites}"
            if r.answerable
            else f"not found {r.not_found}"
        )
        lines += [f"## {r.id} ({r.lang}, {marks}): {r.question}", "", f"key fact: {r.fact or '-'} | {score}", ""]
        lines += [f"- {s}" for s in r.sources] or ["- (no passage kept)"]
        lines += ["", "```", r.answer.strip() or "(no answer written)", "```", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def rows_json(rows: list[AnswerRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def dump(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
