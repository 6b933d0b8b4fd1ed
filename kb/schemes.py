"""How chunks are made searchable (FTS5) and how a question becomes a ranked list of chunks.

Three schemes, compared on kb/eval_questions.jsonl by `so8t kb eval --compare` (numbers in kb/README.md):

- bigram (the default): one FTS5 table, unicode61 + porter; Japanese runs are written as character bigrams
  (kb.text.bigram_text), so two-character words (経費, 出張) are found and English is stemmed.
- trigram: one FTS5 table with the trigram tokenizer over the plain text, for both languages. A term must
  have 3+ characters to use the index; shorter ones (2-kanji words) fall back to LIKE scans.
- dual: two tables, unicode61 + porter for English words and trigram for Japanese, fused by reciprocal rank.

Scores are "higher is better": -bm25 for the FTS rankers, the fused score for dual.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from kb.text import EN_STOP, bigram_text, fts_or, normalize, query_terms, script_runs

SCHEMES = ("bigram", "trigram", "dual")
DEFAULT_SCHEME = "bigram"
# bm25 column weights: title, heading, keywords, body
WEIGHTS = (4.0, 2.0, 2.0, 1.0)
COLUMNS = "title, heading, keywords, body"


@dataclass(frozen=True)
class Term:
    text: str
    table: str  # the FTS table that holds it, or "like" for a LIKE scan of kb_chunks (short trigram terms)


def create_fts(conn: sqlite3.Connection, scheme: str) -> None:
    if scheme in ("bigram", "dual"):
        conn.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS kb_fts USING fts5({COLUMNS}, "
            "tokenize='porter unicode61 remove_diacritics 2')"
        )
    if scheme == "trigram":
        conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS kb_fts USING fts5({COLUMNS}, tokenize='trigram')")
    if scheme == "dual":
        conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS kb_fts_tri USING fts5({COLUMNS}, tokenize='trigram')")


def drop_fts(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS kb_fts")
    conn.execute("DROP TABLE IF EXISTS kb_fts_tri")


def insert_fts(
    conn: sqlite3.Connection, scheme: str, rowid: int, title: str, heading: str, keywords: str, body: str
) -> None:
    cols = (title, heading, keywords, body)
    if scheme == "bigram":
        conn.execute(
            f"INSERT INTO kb_fts(rowid, {COLUMNS}) VALUES (?, ?, ?, ?, ?)", (rowid, *(bigram_text(c) for c in cols))
        )
        return
    plain = tuple(normalize(c) for c in cols)
    conn.execute(f"INSERT INTO kb_fts(rowid, {COLUMNS}) VALUES (?, ?, ?, ?, ?)", (rowid, *plain))
    if scheme == "dual":
        conn.execute(f"INSERT INTO kb_fts_tri(rowid, {COLUMNS}) VALUES (?, ?, ?, ?, ?)", (rowid, *plain))


def delete_fts(conn: sqlite3.Connection, scheme: str, rowids: Sequence[int]) -> None:
    tables = ("kb_fts", "kb_fts_tri") if scheme == "dual" else ("kb_fts",)
    for table in tables:
        conn.executemany(f"DELETE FROM {table} WHERE rowid = ?", [(r,) for r in rowids])


def _trigram_terms(query: str, table: str) -> list[Term]:
    """Trigram-table terms: latin words (3+ chars) and Japanese runs split into trigrams; shorter runs
    (2-kanji words, 'pc') can only be LIKE-scanned."""
    terms: list[Term] = []
    hira: list[Term] = []
    for kind, run in script_runs(query):
        if kind == "latin":
            if run in EN_STOP or len(run) < 2:
                continue
            terms.append(Term(run, table if len(run) >= 3 else "like"))
            continue
        run = run.replace("・", "")
        pieces = [run[i : i + 3] for i in range(len(run) - 2)] if len(run) >= 3 else [run]
        out = [Term(p, table if len(p) >= 3 else "like") for p in pieces]
        (hira if kind == "hira" else terms).extend(out)
    return list(dict.fromkeys(terms or hira))


def terms_for(scheme: str, query: str) -> list[Term]:
    if scheme == "bigram":
        return [Term(t, "kb_fts") for t in query_terms(query)]
    if scheme == "trigram":
        return _trigram_terms(query, "kb_fts")
    # dual: English words through unicode61 + porter, Japanese through the trigram table
    latin = [Term(t, "kb_fts") for kind, t in script_runs(query) if kind == "latin" and t not in EN_STOP]
    ja = [t for t in _trigram_terms(query, "kb_fts_tri") if not t.text.isascii()]
    return list(dict.fromkeys(latin + ja))


def _visible(folders: Sequence[str]) -> tuple[str, list[str]]:
    marks = ", ".join("?" for _ in folders)
    return f"d.folder IN ({marks})", list(folders)


def _fts_rank(
    conn: sqlite3.Connection, table: str, terms: list[str], folders: Sequence[str], limit: int
) -> list[tuple[int, float]]:
    if not terms or not folders:
        return []
    where, args = _visible(folders)
    weights = ", ".join(str(w) for w in WEIGHTS)
    rows = conn.execute(
        f"SELECT c.id, bm25({table}, {weights}) AS s FROM {table} JOIN kb_chunks c ON c.id = {table}.rowid "
        f"JOIN kb_documents d ON d.id = c.doc_id WHERE {table} MATCH ? AND {where} ORDER BY s LIMIT ?",
        [fts_or(terms), *args, limit],
    ).fetchall()
    return [(int(r[0]), -float(r[1])) for r in rows]


def _like_rank(
    conn: sqlite3.Connection, terms: list[str], folders: Sequence[str], limit: int, total: int
) -> list[tuple[int, float]]:
    """Short trigram terms: chunks containing them, scored by the sum of their IDF (a LIKE scan)."""
    if not terms or not folders:
        return []
    where, args = _visible(folders)
    scores: dict[int, float] = {}
    for term in terms:
        rows = conn.execute(
            "SELECT c.id FROM kb_chunks c JOIN kb_documents d ON d.id = c.doc_id "
            f"WHERE (lower(c.text) LIKE ? OR lower(d.title) LIKE ? OR lower(c.heading) LIKE ?) AND {where}",
            [f"%{term}%"] * 3 + args,
        ).fetchall()
        w = idf(total, len(rows))
        for (cid,) in rows:
            scores[int(cid)] = scores.get(int(cid), 0.0) + w
    return sorted(scores.items(), key=lambda kv: -kv[1])[:limit]


def idf(total: int, df: int) -> float:
    return math.log((total - df + 0.5) / (df + 0.5) + 1.0)


def rank(
    conn: sqlite3.Connection, scheme: str, query: str, folders: Sequence[str], limit: int, total: int
) -> list[tuple[int, float]]:
    """(chunk id, score) best first, only chunks of the given folders."""
    terms = terms_for(scheme, query)
    if scheme == "bigram":
        return _fts_rank(conn, "kb_fts", [t.text for t in terms], folders, limit)
    if scheme == "trigram":
        long = [t.text for t in terms if t.table != "like"]
        if long:
            return _fts_rank(conn, "kb_fts", long, folders, limit)
        return _like_rank(conn, [t.text for t in terms], folders, limit, total)
    # dual: reciprocal rank fusion of the English and the Japanese ranking
    en = _fts_rank(conn, "kb_fts", [t.text for t in terms if t.table == "kb_fts"], folders, limit * 4)
    ja_long = [t.text for t in terms if t.table == "kb_fts_tri"]
    ja = (
        _fts_rank(conn, "kb_fts_tri", ja_long, folders, limit * 4)
        if ja_long
        else _like_rank(conn, [t.text for t in terms if t.table == "like"], folders, limit * 4, total)
    )
    fused: dict[int, float] = {}
    for ranking in (en, ja):
        for position, (cid, _s) in enumerate(ranking):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (60 + position)
    return sorted(fused.items(), key=lambda kv: -kv[1])[:limit]


def coverage(conn: sqlite3.Connection, scheme: str, query: str, ids: Sequence[int], total: int) -> dict[int, float]:
    """Per chunk id: the IDF-weighted share of the question's terms it contains (0..1).

    A question the documents can answer shares its rare words with one chunk; an unanswerable one
    matches only common words, or words spread over several chunks."""
    terms = terms_for(scheme, query)
    if not terms or not ids:
        return {i: 0.0 for i in ids}
    marks = ", ".join("?" for _ in ids)
    got: dict[int, float] = {i: 0.0 for i in ids}
    weight_sum = 0.0
    for term in terms:
        if term.table == "like":
            pattern = f"%{term.text}%"
            df = conn.execute(
                "SELECT count(*) FROM kb_chunks c JOIN kb_documents d ON d.id = c.doc_id "
                "WHERE lower(c.text) LIKE ? OR lower(d.title) LIKE ? OR lower(c.heading) LIKE ?",
                (pattern, pattern, pattern),
            ).fetchone()[0]
            hits = conn.execute(
                "SELECT c.id FROM kb_chunks c JOIN kb_documents d ON d.id = c.doc_id "
                f"WHERE c.id IN ({marks}) AND (lower(c.text) LIKE ? OR lower(d.title) LIKE ? "
                "OR lower(c.heading) LIKE ?)",
                [*ids, pattern, pattern, pattern],
            ).fetchall()
        else:
            expr = fts_or([term.text])
            df = conn.execute(f"SELECT count(*) FROM {term.table} WHERE {term.table} MATCH ?", (expr,)).fetchone()[0]
            hits = conn.execute(
                f"SELECT rowid FROM {term.table} WHERE {term.table} MATCH ? AND rowid IN ({marks})", [expr, *ids]
            ).fetchall()
        w = idf(total, int(df))
        weight_sum += w
        for (cid,) in hits:
            got[int(cid)] += w
    return {i: (v / weight_sum if weight_sum else 0.0) for i, v in got.items()}
