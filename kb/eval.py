"""The retrieval benchmark behind `so8t kb eval`: recall@k on kb/eval_questions.jsonl, honest "nothing
relevant" on questions the handbook cannot answer, query latency, and an index build of 1,000 documents.

Everything runs in a temporary store; the bot's own store is never touched.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.config import SAMPLE_HANDBOOK, KnowledgeFolder
from kb.search import RELEVANT_COVERAGE, Passage, relevant, retrieve
from kb.store import index
from runtime.stats import percentile

QUESTIONS = str(Path(__file__).resolve().parent / "eval_questions.jsonl")


@dataclass(frozen=True)
class Question:
    id: str
    lang: str  # the language the question is asked in
    question: str
    expected: tuple[str, ...]  # document paths relative to the folder; () = the handbook has no answer
    fact: str  # a short fact of the answer, as the document writes it
    cross: bool  # asked in the other language than the document's


def load_questions(path: str = QUESTIONS) -> list[Question]:
    out = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(
                Question(
                    str(d["id"]),
                    str(d["lang"]),
                    str(d["question"]),
                    tuple(str(e) for e in d.get("expected") or ()),
                    str(d.get("fact") or ""),
                    bool(d.get("cross", False)),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question line ({type(exc).__name__})") from None
    return out


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


@dataclass
class Row:
    id: str
    lang: str
    cross: bool
    answerable: bool
    hit: bool  # an expected document among the top k
    fact: bool  # the key fact in the text of the top k
    relevant: bool  # relevant() said the passages answer it
    top_coverage: float
    top_score: float
    ms: float
    got: list[str]


@dataclass
class Report:
    scheme: str
    keywords: bool
    k: int
    threshold: float
    documents: int
    chunks: int
    index_s: float
    groups: dict[str, dict[str, float]] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _group(rows: Sequence[Row]) -> dict[str, float]:
    n = len(rows)
    if not n:
        return {"n": 0}
    answerable = [r for r in rows if r.answerable]
    out: dict[str, float] = {"n": n}
    if answerable:
        out["recall"] = sum(r.hit for r in answerable) / len(answerable)
        out["fact"] = sum(r.fact for r in answerable) / len(answerable)
        out["missed_relevant"] = sum(not r.relevant for r in answerable) / len(answerable)
    unanswerable = [r for r in rows if not r.answerable]
    if unanswerable:
        out["nothing_relevant"] = sum(not r.relevant for r in unanswerable) / len(unanswerable)
    return out


def groups(rows: Sequence[Row]) -> dict[str, dict[str, float]]:
    ans = [r for r in rows if r.answerable]
    ms = [r.ms for r in rows]
    return {
        "ja": _group([r for r in ans if r.lang == "ja"]),
        "en": _group([r for r in ans if r.lang == "en"]),
        "same-language": _group([r for r in ans if not r.cross]),
        "ja->en docs": _group([r for r in ans if r.cross and r.lang == "ja"]),
        "en->ja docs": _group([r for r in ans if r.cross and r.lang == "en"]),
        "all answerable": _group(ans),
        "unanswerable": _group([r for r in rows if not r.answerable]),
        "latency_ms": {"p50": percentile(ms, 50) or 0.0, "p95": percentile(ms, 95) or 0.0},
    }


def _doc_of(passage: Passage, folder_label: str) -> str:
    prefix = folder_label.rstrip("/") + "/"
    return passage.path[len(prefix) :] if passage.path.startswith(prefix) else passage.path


def evaluate(
    folder: str = SAMPLE_HANDBOOK,
    questions: Sequence[Question] | None = None,
    *,
    scheme: str = "bigram",
    keywords: bool = True,
    k: int = 3,
    threshold: float = RELEVANT_COVERAGE,
    workdir: str | None = None,
) -> Report:
    """Index `folder` into a fresh temporary store and ask every question (channel None)."""
    qs = list(questions) if questions is not None else load_questions()
    tmp = tempfile.mkdtemp(prefix="so8t-kb-eval-", dir=workdir)
    try:
        db = str(Path(tmp) / "kb.db")
        built = index(db, [KnowledgeFolder(folder)], scheme=scheme, keywords=keywords)
        from kb.store import folder_label

        label = folder_label(folder)
        retrieve(db, "warm up", None, k)
        rows = []
        for q in qs:
            t0 = time.perf_counter()
            got = retrieve(db, q.question, None, k)
            ms = (time.perf_counter() - t0) * 1000
            docs = [_doc_of(p, label) for p in got]
            text = _norm(" ".join(p.text for p in got))
            rows.append(
                Row(
                    q.id,
                    q.lang,
                    q.cross,
                    bool(q.expected),
                    any(d in q.expected for d in docs),
                    bool(q.fact) and _norm(q.fact) in text,
                    relevant(got, threshold),
                    max((p.coverage for p in got), default=0.0),
                    got[0].score if got else 0.0,
                    ms,
                    docs,
                )
            )
        report = Report(scheme, keywords, k, threshold, built.documents, built.chunks, built.seconds)
        report.rows = rows
        report.groups = groups(rows)
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sweep(rows: Sequence[Row], thresholds: Sequence[float]) -> list[dict[str, float]]:
    """For each coverage threshold: the share of unanswerable questions said to have nothing relevant, and
    the share of answerable ones wrongly said so (the price)."""
    ans = [r for r in rows if r.answerable]
    una = [r for r in rows if not r.answerable]
    out = []
    for t in thresholds:
        out.append(
            {
                "threshold": t,
                "nothing_relevant": sum(r.top_coverage < t for r in una) / max(1, len(una)),
                "missed_relevant": sum(r.top_coverage < t for r in ans) / max(1, len(ans)),
                "missed_with_hit": sum(r.top_coverage < t and r.hit for r in ans) / max(1, len(ans)),
            }
        )
    return out


def synthetic_corpus(source: str, target: Path, count: int) -> int:
    """`count` documents made from the source folder's pages: each copy numbered, with its amounts and
    days shifted so that every file differs (no duplicate content for the index to collapse)."""
    pages = sorted(p for p in Path(source).rglob("*.md") if p.is_file())
    if not pages:
        raise ValueError(f"no .md pages under {source}")
    target.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        page = pages[i % len(pages)]
        copy = i // len(pages) + 1
        text = page.read_text(encoding="utf-8")
        text = text.replace("Example Corp", f"Example Corp unit {copy}")
        text = text.replace("サンプル株式会社", f"サンプル{copy}社")
        text += f"\n\n## Revision {copy}\nRevision {copy} of this page, team {i % 37}, building {i % 11}.\n"
        sub = target / f"team-{i % 20:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"{page.stem}-{copy:03d}.md").write_text(text, encoding="utf-8")
    return count


@dataclass
class BuildTiming:
    documents: int
    chunks: int
    full_s: float  # first build into an empty store
    unchanged_s: float  # the same folder again (nothing changed: stat only)
    changed_s: float  # after 10 files changed and 5 removed
    query_p50_ms: float  # retrieval on the big index
    db_mb: float


def build_timing(
    source: str = SAMPLE_HANDBOOK,
    count: int = 1000,
    *,
    scheme: str = "bigram",
    questions: Sequence[Question] | None = None,
    workdir: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildTiming:
    tmp = Path(tempfile.mkdtemp(prefix="so8t-kb-build-", dir=workdir))
    try:
        docs = tmp / "docs"
        synthetic_corpus(source, docs, count)
        db = str(tmp / "kb.db")
        folders = [KnowledgeFolder(str(docs))]
        if progress:
            progress(f"indexing {count} synthetic documents ...")
        full = index(db, folders, scheme=scheme)
        again = index(db, folders, scheme=scheme)
        files = sorted(docs.rglob("*.md"))
        for f in files[:10]:
            f.write_text(f.read_text(encoding="utf-8") + "\nChanged.\n", encoding="utf-8")
        for f in files[10:15]:
            f.unlink()
        changed = index(db, folders, scheme=scheme)
        qs = list(questions) if questions is not None else load_questions()
        times = []
        for q in qs:
            t0 = time.perf_counter()
            retrieve(db, q.question, None, 3)
            times.append((time.perf_counter() - t0) * 1000)
        size = sum(p.stat().st_size for p in tmp.glob("kb.db*")) / 1e6
        return BuildTiming(
            full.documents, full.chunks, full.seconds, again.seconds, changed.seconds, statistics.median(times), size
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
