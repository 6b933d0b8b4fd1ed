"""The team's own documents, indexed in the bot's SQLite store and retrieved with citations (issue 17).

index(db_path, config.knowledge.folders) brings the index up to date (incremental; `so8t kb index`);
retrieve(db_path, question, channel) gives the numbered passages visible in that channel; relevant(passages)
says whether they answer the question at all; render(passages, lang) is the quoted, numbered prompt block.
"""

from kb.render import clean, render, sources
from kb.search import RELEVANT_COVERAGE, Passage, relevant, retrieve
from kb.store import IndexReport, KbError, ensure_index, index, stats

__all__ = [
    "RELEVANT_COVERAGE",
    "IndexReport",
    "KbError",
    "Passage",
    "clean",
    "ensure_index",
    "index",
    "relevant",
    "render",
    "retrieve",
    "sources",
    "stats",
]
