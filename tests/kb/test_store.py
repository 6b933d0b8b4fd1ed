"""Indexing into the store: file types, incremental updates, removal, bad files, logging."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

from bot.config import KnowledgeFolder
from kb import index, retrieve, stats
from tests.kb.helpers import EXPENSES, LEAVE_JA, minimal_pdf, write


def _chunks(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM kb_chunks").fetchone()[0])


def _fts_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM kb_fts").fetchone()[0])


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    write(folder, "expenses.md", EXPENSES)
    write(folder, "ja/leave.md", LEAVE_JA)
    write(folder, "notes.txt", "Printer toner\n\nToner cartridges are ordered by General Affairs every Monday.")
    write(
        folder,
        "vpn.html",
        "<html><head><title>VPN</title><script>var secret = 1;</script></head><body>"
        "<h2>Server</h2><p>Connect to vpn.example.com with the NorthGate client.</p></body></html>",
    )
    (folder / "guide.pdf").write_bytes(minimal_pdf("Parking permits are issued by the front desk on floor 2."))
    write(folder, "image.png", "not really a png")
    write(folder, ".hidden.md", "# Hidden\n\nnever indexed")
    return folder


def test_index_reads_every_supported_type(tmp_path: Path, docs: Path) -> None:
    db = tmp_path / "s.db"
    report = index(db, [KnowledgeFolder(str(docs))])
    assert (report.files, report.added, report.warnings) == (5, 5, [])
    assert report.ignored == {".png": 1}
    info = stats(db)
    assert info["indexed"] and info["documents"] == 5 and info["scheme"] == "bigram"
    assert retrieve(db, "toner cartridges", None)[0].path.endswith("/notes.txt")
    html = retrieve(db, "NorthGate server", None)[0]
    assert (html.title, html.heading) == ("VPN", "Server") and "secret" not in html.text
    pdf = retrieve(db, "parking permits", None)[0]
    assert pdf.path.endswith("/guide.pdf") and pdf.heading == "p. 1" and "front desk" in pdf.text
    md = retrieve(db, "receipt", None)[0]
    assert md.title == "Expense claims" and "Receipts" in md.heading
    assert not retrieve(db, "hidden", None)


def test_reindex_is_incremental(tmp_path: Path, docs: Path) -> None:
    db = tmp_path / "s.db"
    folders = [KnowledgeFolder(str(docs))]
    index(db, folders)
    again = index(db, folders)
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 5, 0)
    # touched but not changed: hashed, not re-chunked
    future = time.time() + 100
    os.utime(docs / "notes.txt", (future, future))
    touched = index(db, folders)
    assert (touched.updated, touched.unchanged) == (0, 5)
    # changed: only that document is re-chunked; the old text is gone from the search
    write(docs, "expenses.md", EXPENSES.replace("SpendWise", "ClaimPilot"))
    changed = index(db, folders)
    assert (changed.updated, changed.unchanged) == (1, 4)
    assert retrieve(db, "ClaimPilot", None) and not retrieve(db, "SpendWise", None)
    assert _chunks(db) == _fts_rows(db)


def test_removed_files_and_folders_leave_the_index(tmp_path: Path, docs: Path) -> None:
    db = tmp_path / "s.db"
    other = tmp_path / "other"
    write(other, "a.md", "# Canteen\n\nThe canteen opens at 11:30.")
    index(db, [KnowledgeFolder(str(docs)), KnowledgeFolder(str(other))])
    before = _chunks(db)
    (docs / "notes.txt").unlink()
    report = index(db, [KnowledgeFolder(str(docs)), KnowledgeFolder(str(other))])
    assert report.removed == 1 and not retrieve(db, "toner", None)
    assert _chunks(db) < before and _chunks(db) == _fts_rows(db)
    # a folder no longer configured takes its documents with it
    report = index(db, [KnowledgeFolder(str(docs))])
    assert report.removed == 1 and not retrieve(db, "canteen", None)
    assert [f["path"] for f in stats(db)["folders"]] == [str(docs)]


def test_bad_files_warn_in_one_line_and_indexing_goes_on(tmp_path: Path, docs: Path) -> None:
    (docs / "junk.md").write_bytes(os.urandom(2048) + b"\x00\x01")
    write(docs, "empty.txt", "")
    write(docs, "huge.txt", "lorem ipsum dolor sit amet " * 200)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a real pdf")
    write(docs, "latin1.txt", "")
    (docs / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1") + b"\xff\xfe\x80")
    seen: list[str] = []
    report = index(tmp_path / "s.db", [KnowledgeFolder(str(docs))], max_bytes=4000, on_warning=seen.append)
    assert report.added == 5  # the good files
    assert seen == report.warnings and len(seen) == 5
    for line in seen:
        assert "\n" not in line and ": skipped, " in line
    again: list[str] = []
    repeat = index(tmp_path / "s.db", [KnowledgeFolder(str(docs))], max_bytes=4000, on_warning=again.append)
    assert repeat.warnings == report.warnings and again == []  # unchanged bad files: reported, not re-read or re-said
    text = " ".join(seen)
    assert "junk.md: skipped, binary file" in text and "empty.txt: skipped, empty file" in text
    assert "huge.txt: skipped, 0.0 MB, over the" in text and "broken.pdf: skipped, PDF could not be read" in text
    write(docs, "empty.txt", "Now it has text about staplers.")
    fixed = index(tmp_path / "s.db", [KnowledgeFolder(str(docs))], max_bytes=4000)
    assert fixed.added == 1 and len(fixed.warnings) == 4 and retrieve(tmp_path / "s.db", "staplers", None)


def test_a_file_that_turns_bad_loses_its_old_chunks(tmp_path: Path, docs: Path) -> None:
    db = tmp_path / "s.db"
    index(db, [KnowledgeFolder(str(docs))])
    write(docs, "notes.txt", "")
    report = index(db, [KnowledgeFolder(str(docs))])
    assert report.removed == 1 and not retrieve(db, "toner", None)


def test_missing_folder_is_a_warning(tmp_path: Path) -> None:
    report = index(tmp_path / "s.db", [KnowledgeFolder(str(tmp_path / "nowhere"))])
    assert report.documents == 0 and "folder not found" in report.warnings[0]


def test_document_text_is_never_logged(tmp_path: Path, docs: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(docs, "secret.md", "# Board\n\nThe merger codename is BLUEHERON.")
    (docs / "bad.md").write_bytes(b"BLUEHERON\x00\x00binary")
    with caplog.at_level(logging.DEBUG):
        index(tmp_path / "s.db", [KnowledgeFolder(str(docs))])
        retrieve(tmp_path / "s.db", "BLUEHERON merger", None)
    assert "bad.md" in caplog.text and "BLUEHERON" not in caplog.text


def test_the_index_lives_beside_the_audit_tables(tmp_path: Path, docs: Path) -> None:
    from bot.store import AuditStore

    db = tmp_path / "so8t.db"
    AuditStore(db).close()
    index(db, [KnowledgeFolder(str(docs))])
    store = AuditStore(db)  # still opens: WAL kept, its schema untouched
    assert store.schema_version() >= 1
    store.close()
    assert retrieve(db, "receipt", None)


def test_scheme_change_rebuilds(tmp_path: Path, docs: Path) -> None:
    db = tmp_path / "s.db"
    index(db, [KnowledgeFolder(str(docs))])
    report = index(db, [KnowledgeFolder(str(docs))], scheme="trigram")
    assert report.added == 5 and stats(db)["scheme"] == "trigram"
    assert retrieve(db, "有給休暇", None)[0].path.endswith("ja/leave.md")
    assert retrieve(db, "申請", None)[0].path.endswith("ja/leave.md")  # under 3 characters: a LIKE scan
    assert index(db, [KnowledgeFolder(str(docs))]).unchanged == 5  # the index keeps its scheme


def test_ensure_index_never_raises(tmp_path: Path, docs: Path, caplog: pytest.LogCaptureFixture) -> None:
    from kb import ensure_index

    report = ensure_index(tmp_path / "s.db", [KnowledgeFolder(str(docs))])
    assert report is not None and report.added == 5
    (tmp_path / "dir.db").mkdir()
    with caplog.at_level(logging.WARNING):
        assert ensure_index(tmp_path / "dir.db", [KnowledgeFolder(str(docs))]) is None
    assert "cannot open the store" in caplog.text
