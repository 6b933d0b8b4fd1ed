"""`so8t kb eval-answers`: grounded answers to the handbook questions, written by the served answering model.

For each question of kb/eval_questions.jsonl the answer path runs as the bot runs it: retrieve in an
unrestricted channel, keep the passages only when relevant(), then the answering model writes the answer
from them (kb.render in its system turn). Scored per language:
- grounded: the question's key fact (as the handbook writes it) is in the answer;
- faithful: ... and it is in a passage the answer was given (the answer did not get it from elsewhere);
- cites: the answer names a source number ([1], [2], ...) that was given;
- not_found: for a question the handbook cannot answer, no passage was kept (the bot then says no team
  document matched instead of citing one).
The model's answer then goes through the grounding check as the bot posts it (kb/grounding.py): when it
states a number or name the passages do not hold, or shares nothing with them, the posted answer is the
passages' own best sentences, quoted. Both are scored: the model's answer (grounded, faithful, cites) and
the posted one (posted_grounded, posted_faithful, posted_cites), with the share of answers replaced
(fallback). Every question, its passages' titles, the model's and the posted answer go to a readable file.
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
from kb.grounding import grounded_answer
from kb.render import render
from kb.search import relevant, retrieve

_CITE = re.compile(r"\[(\d{1,2})\]")
_QUOTE_MARK = re.compile(r"(?m)^[ \t]*>[ \t]?")  # as the bot strips them before posting (bot/pipeline.py)


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
    posted: str = ""  # what the bot posts: the model's answer, or the extractive one when the check failed
    outcome: str = ""  # kb.grounding outcome: model | extractive_fact | extractive_overlap | extractive_empty
    unsupported: list[str] | None = None  # the answer's numbers / names no passage holds
    posted_grounded: bool = False
    posted_faithful: bool = False
    posted_cites: bool = False

    @property
    def fell_back(self) -> bool:
        """The model's answer was replaced by the extractive one."""
        return self.outcome.startswith("extractive")


def evaluate_answers(
    answerer: Any,
    store: str | Path,
    folders: tuple[KnowledgeFolder, ...],
    questions_path: str = QUESTIONS,
    max_tokens: int = 160,
    replay: dict[str, str] | None = None,
) -> tuple[list[AnswerRow], dict[str, dict[str, float | int | None]]]:
    """Ask every question as the bot does and score the answers. With `replay` (question id -> the model's
    answer of an earlier run, `load_replay`) no model runs: the stored answers are checked and scored again."""
    rows: list[AnswerRow] = []
    for q in load_questions(questions_path):
        passages = retrieve(store, q.question, None, 3, folders=folders)
        kept = passages if relevant(passages) else []
        t0 = time.perf_counter()
        # without a kept passage the bot answers in general terms and says no document matched: nothing to score
        if not kept:
            answer = ""
        elif replay is not None:
            answer = replay.get(q.id, "")
        else:
            answer = "".join(answerer.answer((), q.question, max_tokens, render(kept, q.lang)))
        seconds = time.perf_counter() - t0
        fact = _norm(q.fact)
        given = {p.number for p in kept}
        grounded = bool(fact) and fact in _norm(answer)
        posted, outcome, check = (
            grounded_answer(_QUOTE_MARK.sub("", answer).strip(), kept, q.question, q.lang) if kept else ("", "", None)
        )
        posted_grounded = bool(fact) and fact in _norm(posted)
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
                posted=posted,
                outcome=outcome,
                unsupported=list(check.unsupported) if check else [],
                posted_grounded=posted_grounded,
                posted_faithful=posted_grounded and any(fact in _norm(p.text) for p in kept),
                posted_cites=any(int(n) in given for n in _CITE.findall(posted)),
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
            "posted_grounded": rate(ans, "posted_grounded"),
            "posted_faithful": rate(ans, "posted_faithful"),
            "posted_cites": rate(ans, "posted_cites"),
            # of the answers written from passages (answerable or not), the share replaced by the extractive one
            "fallback": rate([r for r in part if r.outcome], "fell_back"),
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
            f"model: grounded {r.grounded}, faithful {r.faithful}, cites {r.cites} | posted ({r.outcome or '-'}): "
            f"grounded {r.posted_grounded}, faithful {r.posted_faithful}, cites {r.posted_cites}"
            if r.answerable
            else f"not found {r.not_found}" + (f" | posted ({r.outcome})" if r.outcome else "")
        )
        if r.unsupported:
            score += f" | not in the passages: {', '.join(r.unsupported)}"
        lines += [f"## {r.id} ({r.lang}, {marks}): {r.question}", "", f"key fact: {r.fact or '-'} | {score}", ""]
        lines += [f"- {s}" for s in r.sources] or ["- (no passage kept)"]
        lines += ["", "model's answer:", "", "```", r.answer.strip() or "(no answer written)", "```", ""]
        if r.outcome and r.outcome != "model":
            lines += ["posted instead:", "", "```", r.posted.strip(), "```", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def load_replay(path: Path) -> dict[str, str]:
    """The model's answers of an earlier `--json` run, by question id."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(r["id"]): str(r.get("answer") or "") for r in data.get("rows", [])}


def rows_json(rows: list[AnswerRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def dump(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
