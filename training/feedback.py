"""Reviewed escalations as training examples: `training/data/feedback/<week>.jsonl`, one file per ISO week.

The bot's feedback job hands over rows whose text is already PII-masked; here they are deduped by text
hash against every feedback file (a case reviewed twice, or the same request in two weeks, counts once)
and appended. Feedback rows are never in the frozen test split: they go to train or dev by group.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from training.dataset import DATA_DIR, split_of

FEEDBACK_DIR = DATA_DIR / "feedback"
FEEDBACK_FIELDS = (
    "id",
    "text",
    "lang",
    "label",
    "category",
    "group",
    "source",
    "split",
    "domain",
    "reviewer_role",
    "date",
    "escalation_kind",
    "model_verdict",
)


def text_hash(text: str) -> str:
    """sha256 of the normalized text (NFKC, case-folded, whitespace collapsed): the dedupe key."""
    norm = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()


def feedback_split(group: str) -> str:
    """train or dev (the seed set's by-group split with its test share moved to train): never test."""
    split = split_of(group)
    return "train" if split == "test" else split


def feedback_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.jsonl") if p.is_file()) if directory.is_dir() else []


def read_feedback(directory: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in feedback_files(directory):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def make_row(
    *,
    text: str,
    lang: str,
    label: str,
    category: str,
    reviewer_role: str,
    date: str,
    domain: str | None = None,
    escalation_kind: str = "escalate",
    model_verdict: str = "",
) -> dict[str, Any]:
    """One feedback example (text must already be PII-masked)."""
    h = text_hash(text)
    group = f"fb-{h[:12]}"
    row: dict[str, Any] = {
        "id": f"{group}-0",
        "text": text,
        "lang": lang,
        "label": label,
        "category": "none" if label == "ALLOW" else category,
        "group": group,
        "source": "feedback",
        "split": feedback_split(group),
        "reviewer_role": reviewer_role,
        "date": date,
        "escalation_kind": escalation_kind,
        "model_verdict": model_verdict,
    }
    if label == "ESCALATE" and domain:
        row["domain"] = domain
    return row


def append_feedback(rows: Iterable[dict[str, Any]], directory: Path, week: str) -> tuple[int, int]:
    """Append the rows not seen in any feedback file to <directory>/<week>.jsonl; (added, duplicates)."""
    seen = {text_hash(str(r["text"])) for r in read_feedback(directory)}
    fresh = []
    dupes = 0
    for r in rows:
        h = text_hash(str(r["text"]))
        if h in seen:
            dupes += 1
            continue
        seen.add(h)
        fresh.append(r)
    if fresh:
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / f"{week}.jsonl").open("a", encoding="utf-8") as fh:
            for r in fresh:
                fh.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    return len(fresh), dupes
