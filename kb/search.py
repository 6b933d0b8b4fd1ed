"""Retrieval for grounded answers: the chunks of the folders visible in a channel, best first, numbered."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from bot.config import KnowledgeFolder
from kb.schemes import coverage, rank
from kb.store import StoreLike, connect, folder_key, has_index, meta

log = logging.getLogger("so8t.kb")

# The top passage must hold at least this IDF-weighted share of the question's terms for relevant() to
# say the documents answer it (chosen on kb/eval_questions.jsonl: `so8t kb eval`, see kb/README.md).
RELEVANT_COVERAGE = 0.35


@dataclass(frozen=True)
class Passage:
    number: int  # the citation number, [1] first
    title: str  # the document's title
    path: str  # the file as the folder is configured: kb/sample_handbook/expenses.md
    heading: str  # the heading path inside the document ("" before the first heading)
    text: str
    score: float  # the ranker's score, higher is better (-bm25 for the FTS schemes)
    coverage: float  # IDF-weighted share of the question's terms found in this passage (0..1)

    @property
    def source(self) -> str:
        """How a citation names it: "title — heading" (or the title alone)."""
        return f"{self.title} — {self.heading}" if self.heading else self.title


def visible_folders(conn: sqlite3.Connection, channel: str | None) -> list[str]:
    """The indexed folders (keys) whose documents may be shown in `channel` (None: unrestricted ones only)."""
    out = []
    for path, channels in conn.execute("SELECT path, channels FROM kb_folders").fetchall():
        folder = KnowledgeFolder(str(path), tuple(json.loads(channels or "[]")))
        if folder.visible_in(channel):
            out.append(str(path))
    return out


def retrieve(
    store: StoreLike,
    query: str,
    channel: str | None,
    k: int = 3,
    *,
    folders: Sequence[KnowledgeFolder] | None = None,
) -> list[Passage]:
    """Up to k passages for `query` from the folders visible in `channel`, best first, numbered from 1.

    `store` is the bot's SQLite file (storage.path) or an open connection; a store without an index gives [].
    Visibility comes from the channels each folder had when it was indexed, or from `folders` when given
    (the current knowledge: config). A channel of None sees only folders open to every channel."""
    if k <= 0 or not query.strip():
        return []
    conn, owned = connect(store, write=False)
    if conn is None:
        return []
    try:
        if not has_index(conn):
            return []
        scheme = meta(conn).get("scheme", "bigram")
        if folders is not None:
            indexed = {str(r[0]) for r in conn.execute("SELECT path FROM kb_folders")}
            allowed = [folder_key(f.path) for f in folders if f.visible_in(channel)]
            allowed = [f for f in allowed if f in indexed]
        else:
            allowed = visible_folders(conn, channel)
        total = max(1, int(conn.execute("SELECT count(*) FROM kb_chunks").fetchone()[0]))
        ranked = rank(conn, scheme, query, allowed, k, total)
        if not ranked:
            return []
        ids = [cid for cid, _ in ranked]
        cover = coverage(conn, scheme, query, ids, total)
        marks = ", ".join("?" for _ in ids)
        rows = {
            int(r[0]): r
            for r in conn.execute(
                "SELECT c.id, d.title, f.label, d.path, c.heading, c.text FROM kb_chunks c "
                "JOIN kb_documents d ON d.id = c.doc_id LEFT JOIN kb_folders f ON f.path = d.folder "
                f"WHERE c.id IN ({marks})",
                ids,
            ).fetchall()
        }
        passages: list[Passage] = []
        for cid, score in ranked:
            _id, title, label, rel, heading, text = rows[cid]
            path = f"{str(label).rstrip('/')}/{rel}" if label else str(rel)
            passages.append(
                Passage(len(passages) + 1, str(title), path, str(heading), str(text), score, cover.get(cid, 0.0))
            )
        return passages
    except sqlite3.Error as exc:
        # an index being rebuilt or a damaged one: answer without documents rather than fail
        log.warning("kb retrieve: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return []
    finally:
        if owned:
            conn.close()


def relevant(passages: Sequence[Passage], threshold: float = RELEVANT_COVERAGE) -> bool:
    """True when the best passage covers enough of the question to answer from; False means the answer
    should say honestly that the documents have nothing on it."""
    return bool(passages) and max(p.coverage for p in passages) >= threshold
