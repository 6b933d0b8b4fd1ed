"""Reviewers' answers saved to the knowledge base: one Markdown document per escalation in the reviewers'
folder (`knowledge.folders[]` with `answers: true`), indexed with the team's other documents.

The bot's review flow (bot/review.py) masks the question and the answer (bot/pii.py) before they reach
`write_answer`; this module only lays the document out and writes it atomically. The reviewers' folder is
an ordinary knowledge folder, so a saved answer is visible in exactly the channels that folder is
configured for, can be read, corrected or deleted as a file, and is re-indexed like any other page.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import KnowledgeFolder
from bot.replies import domain_ja

# The headings of a saved answer, in the language of the case (the asker's).
HEADINGS = {
    "en": ("Question", "Answer", "Answered by reviewer {reviewer} on {date} ({domain}, case #{case})."),
    "ja": ("質問", "回答", "{date} に{domain}の担当者 {reviewer} さんが回答しました（案件 #{case}）。"),
}


@dataclass(frozen=True)
class SavedAnswer:
    """What was written: the file, and its path as the folder is configured (the citation's path)."""

    path: Path
    shown: str


def answers_folder(folders: Sequence[KnowledgeFolder]) -> KnowledgeFolder | None:
    """The reviewers' folder (`answers: true`), or None when no folder is configured as one."""
    return next((f for f in folders if f.answers), None)


def file_name(case: int) -> str:
    """One file per case: a second save of the same case would find it (the audit decides who saved first)."""
    return f"case-{case}.md"


def _one_line(text: str, limit: int = 120) -> str:
    line = re.sub(r"\s+", " ", text).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _yaml_str(text: str) -> str:
    """A double-quoted YAML scalar (the title comes from an asker's text)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_answer(
    case: int, question: str, answer: str, reviewer: str, when: float, domain: str, lang: str = "en"
) -> str:
    """The Markdown document of a saved answer: front matter (title, keywords, reviewer, date, domain, case),
    the question as the title and under its heading, the reviewer's answer, and who answered when.
    `question` and `answer` must be masked already."""
    date = dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%d")
    q_head, a_head, signed = HEADINGS["ja" if lang == "ja" else "en"]
    title = _one_line(question) or f"Case #{case}"
    return "\n".join(
        [
            "---",
            f"title: {_yaml_str(title)}",
            f"keywords: [{domain}]",
            f"reviewer: {_yaml_str(reviewer)}",
            f"date: {date}",
            f"domain: {domain}",
            f"case: {case}",
            "---",
            f"# {title}",
            "",
            f"## {q_head}",
            "",
            question.strip(),
            "",
            f"## {a_head}",
            "",
            answer.strip(),
            "",
            signed.format(
                reviewer=reviewer, date=date, domain=domain_ja(domain) if lang == "ja" else domain, case=case
            ),
            "",
        ]
    )


def write_answer(folder: KnowledgeFolder, case: int, document: str) -> SavedAnswer:
    """Write `document` as the case's file in `folder` (created if missing), atomically: a reader or the
    indexer never sees half a file. Raises OSError when the folder cannot be written."""
    root = Path(folder.path).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    target = root / file_name(case)
    fd, tmp = tempfile.mkstemp(prefix=".saving-", suffix=".md", dir=root)  # hidden: never indexed
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(document)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return SavedAnswer(target, f"{folder.path.rstrip('/')}/{target.name}")
