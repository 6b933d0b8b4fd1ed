"""retrieve(): visibility by channel, Japanese and English queries, numbering, relevant()."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.config import KnowledgeFolder
from kb import Passage, index, relevant, retrieve
from tests.kb.helpers import EXPENSES, HR_ONLY, LEAVE_JA, write


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    public, hr = tmp_path / "public", tmp_path / "hr"
    write(public, "expenses.md", EXPENSES)
    write(public, "leave.md", LEAVE_JA)
    write(hr, "salary.md", HR_ONLY)
    path = tmp_path / "s.db"
    index(path, [KnowledgeFolder(str(public)), KnowledgeFolder(str(hr), ("hr-team", "#people"))])
    return path


def test_a_restricted_folder_is_visible_only_in_its_channels(db: Path) -> None:
    assert retrieve(db, "salary band engineering", "hr-team")[0].path.endswith("hr/salary.md")
    assert retrieve(db, "salary band engineering", "people")[0].path.endswith("hr/salary.md")
    for channel in ("general", None):
        assert all("salary" not in p.path for p in retrieve(db, "salary band engineering", channel, k=10))
    assert retrieve(db, "receipt", "hr-team")  # unrestricted folders are seen everywhere


def test_current_config_can_override_the_indexed_visibility(db: Path, tmp_path: Path) -> None:
    folders = [KnowledgeFolder(str(tmp_path / "public")), KnowledgeFolder(str(tmp_path / "hr"))]
    assert retrieve(db, "salary band", "general", folders=folders)
    assert not retrieve(db, "salary band", "general", folders=folders[:1])


def test_japanese_query_finds_the_japanese_document(db: Path) -> None:
    hits = retrieve(db, "有給休暇は何日もらえますか", None)
    assert hits and hits[0].path.endswith("leave.md") and hits[0].title == "年次有給休暇"
    assert "10日" in hits[0].text
    # a two-character word, which a trigram index could not look up
    assert retrieve(db, "申請", None)[0].path.endswith("leave.md")


def test_front_matter_keywords_bridge_languages(db: Path) -> None:
    assert retrieve(db, "経費精算の締め切り", None)[0].path.endswith("expenses.md")


def test_passages_are_numbered_and_carry_their_source(db: Path) -> None:
    hits = retrieve(db, "expense receipt and 有給休暇", None, k=2)
    assert [p.number for p in hits] == [1, 2]
    assert all(isinstance(p, Passage) and p.score > 0 and 0 <= p.coverage <= 1 for p in hits)
    assert {p.source for p in hits} == {"Expense claims — Deadline · Receipts", "年次有給休暇 — 付与日数 · 申請"}


def test_relevant_says_honestly_when_nothing_answers(db: Path) -> None:
    assert relevant(retrieve(db, "When is the expense claim deadline?", None))
    assert not relevant(retrieve(db, "Can I bring my dog to the expense party?", None))
    assert not relevant(retrieve(db, "quantum chromodynamics", None))
    assert not relevant([])


def test_no_store_or_no_index_gives_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    assert retrieve(missing, "anything", None) == [] and not missing.exists()
    plain = tmp_path / "plain.db"
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.close()
    assert retrieve(plain, "anything", None) == []


def test_odd_queries_are_safe(db: Path) -> None:
    for query in ("", "   ", '"', "NEAR(a b) OR title:x*", "の", "a", "???", "経"):
        assert isinstance(retrieve(db, query, None), list)
    assert retrieve(db, "receipt", None, k=0) == []


def test_an_open_connection_works(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert retrieve(conn, "receipt", None)
    finally:
        conn.close()
