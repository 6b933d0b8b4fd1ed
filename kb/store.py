"""The knowledge index inside the bot's SQLite store: kb_folders, kb_documents, kb_chunks and FTS5.

Indexing is incremental: a file whose size and mtime are unchanged is not read; a changed one is hashed
(sha256) and re-chunked only when its content changed; a file that is gone (or a folder no longer
configured) loses its document and chunks. Chunk text is stored as it is (the company's documents);
logs and warnings name files, never their text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.config import KnowledgeFolder
from kb.chunk import chunk
from kb.extract import MAX_BYTES, SUFFIXES, Unreadable, extract
from kb.schemes import DEFAULT_SCHEME, SCHEMES, create_fts, delete_fts, drop_fts, insert_fts

log = logging.getLogger("so8t.kb")

StoreLike = str | Path | sqlite3.Connection | Database
INDEX_VERSION = "1"
COMMIT_EVERY_S = 0.5  # a long index run commits this often, so the bot's own writes are never held up for long


class KbError(Exception):
    """A store that cannot be opened or used; str() is one line."""


@dataclass
class IndexReport:
    folders: int = 0
    files: int = 0  # supported files seen
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0  # chunks in the whole index after the run
    documents: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)  # other file types: suffix -> count

    def summary(self) -> str:
        other = ""
        if self.ignored:
            kinds = ", ".join(f"{k or '(none)'} {v}" for k, v in sorted(self.ignored.items()))
            other = f"; ignored other types: {kinds}"
        return (
            f"indexed {self.folders} folder(s), {self.files} file(s): {self.added} added, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.removed} removed, {len(self.warnings)} skipped; "
            f"{self.documents} document(s), {self.chunks} chunk(s) in {self.seconds:.2f} s{other}"
        )


def folder_key(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def folder_label(path: str) -> str:
    """The folder as citations show it: as configured, or relative to the working directory when it is an
    absolute path inside it (the shipped sample handbook)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        try:
            return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            return p.as_posix()
    return p.as_posix()


def connect(store: StoreLike, write: bool) -> tuple[sqlite3.Connection | None, bool]:
    """(connection, owned). A store path that does not exist gives (None, False) when only reading."""
    if isinstance(store, Database):
        return store.conn, False
    if isinstance(store, sqlite3.Connection):
        return store, False
    path = Path(store)
    try:
        if not write:
            if not path.is_file():
                return None, False
            conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=5.0, isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=5.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")  # the audit store uses WAL on the same file
        conn.execute("PRAGMA busy_timeout = 5000")
    except (OSError, sqlite3.Error) as exc:
        raise KbError(f"cannot open the store {path}: {str(exc).splitlines()[0]}") from None
    return conn, True


def has_index(conn: sqlite3.Connection) -> bool:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'kb_%'")}
    return {"kb_meta", "kb_documents", "kb_chunks", "kb_fts"} <= names


def meta(conn: sqlite3.Connection) -> dict[str, str]:
    return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM kb_meta")}


def _schema(conn: sqlite3.Connection) -> None:
    db = Database(conn)
    db["kb_meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)  # type: ignore[union-attr]
    db["kb_folders"].create(  # type: ignore[union-attr]
        {"path": str, "label": str, "channels": str, "indexed_at": float}, pk="path", if_not_exists=True
    )
    db["kb_documents"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "folder": str,
            "path": str,
            "title": str,
            "keywords": str,
            "sha256": str,
            "mtime": float,
            "size": int,
            "chunks": int,
            "indexed_at": float,
        },
        pk="id",
        if_not_exists=True,
    )
    db["kb_chunks"].create(  # type: ignore[union-attr]
        {"id": int, "doc_id": int, "ordinal": int, "heading": str, "text": str},
        pk="id",
        foreign_keys=[("doc_id", "kb_documents", "id")],
        if_not_exists=True,
    )
    db["kb_skipped"].create(  # type: ignore[union-attr]
        {"folder": str, "path": str, "mtime": float, "size": int, "reason": str},
        pk=("folder", "path"),
        if_not_exists=True,
    )
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS kb_documents_folder_path ON kb_documents(folder, path)")
    conn.execute("CREATE INDEX IF NOT EXISTS kb_chunks_doc ON kb_chunks(doc_id)")


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    if conn.in_transaction:  # the caller's transaction
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _walk(root: Path) -> Iterator[Path]:
    """Files under root in a stable order; hidden files and folders are skipped, links are not followed."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and not name.startswith("~$"):
                yield Path(dirpath) / name


def _remove_doc(conn: sqlite3.Connection, scheme: str, doc_id: int) -> None:
    ids = [int(r[0]) for r in conn.execute("SELECT id FROM kb_chunks WHERE doc_id = ?", (doc_id,))]
    delete_fts(conn, scheme, ids)
    conn.execute("DELETE FROM kb_chunks WHERE doc_id = ?", (doc_id,))
    conn.execute("DELETE FROM kb_documents WHERE id = ?", (doc_id,))


def index(
    store: StoreLike,
    folders: Sequence[KnowledgeFolder],
    *,
    scheme: str | None = None,
    keywords: bool = True,
    full: bool = False,
    max_bytes: int = MAX_BYTES,
    now: Callable[[], float] = time.time,
    on_warning: Callable[[str], None] | None = None,
) -> IndexReport:
    """Bring the index up to date with `folders`. `scheme` (bigram, trigram, dual) defaults to the index's own,
    else bigram; a different scheme or keyword setting rebuilds everything, as does `full`.
    `keywords=False` leaves front-matter keywords out of the search (for measuring what they add)."""
    started = time.perf_counter()
    conn, owned = connect(store, write=True)
    assert conn is not None
    report = IndexReport(folders=len(folders))

    def warn(message: str, new: bool = True) -> None:
        """Every skipped file is in the report; a new one (not skipped unchanged before) also goes to
        on_warning, else to the log, so that `--watch` does not repeat it every pass."""
        report.warnings.append(message)
        if not new:
            return
        if on_warning is not None:
            on_warning(message)
        else:
            log.warning("kb index: %s", message)

    try:
        with _transaction(conn):
            _schema(conn)
            old = meta(conn)
            chosen = scheme or old.get("scheme") or DEFAULT_SCHEME
            if chosen not in SCHEMES:
                raise KbError(f"unknown index scheme {chosen!r} (known: {', '.join(SCHEMES)})")
            wanted = {"scheme": chosen, "keywords": "1" if keywords else "0", "version": INDEX_VERSION}
            if full or any(old.get(k) != v for k, v in wanted.items()):
                drop_fts(conn)
                conn.execute("DELETE FROM kb_chunks")
                conn.execute("DELETE FROM kb_documents")
                conn.execute("DELETE FROM kb_skipped")
            create_fts(conn, chosen)
            conn.executemany("INSERT OR REPLACE INTO kb_meta(key, value) VALUES (?, ?)", list(wanted.items()))
        keys = [folder_key(f.path) for f in folders]
        _drop_unconfigured(conn, chosen, keys, report)
        for folder, key in zip(folders, keys, strict=True):
            _index_folder(conn, chosen, folder, key, keywords, max_bytes, now, report, warn)
        report.documents = int(conn.execute("SELECT count(*) FROM kb_documents").fetchone()[0])
        report.chunks = int(conn.execute("SELECT count(*) FROM kb_chunks").fetchone()[0])
    except sqlite3.Error as exc:
        raise KbError(f"knowledge index: {str(exc).splitlines()[0]}") from None
    finally:
        if owned:
            conn.close()
    report.seconds = time.perf_counter() - started
    return report


def _drop_unconfigured(conn: sqlite3.Connection, scheme: str, keys: list[str], report: IndexReport) -> None:
    with _transaction(conn):
        stale = [str(r[0]) for r in conn.execute("SELECT path FROM kb_folders") if str(r[0]) not in keys]
        stale += [str(r[0]) for r in conn.execute("SELECT DISTINCT folder FROM kb_documents") if str(r[0]) not in keys]
        for key in dict.fromkeys(stale):
            for (doc_id,) in conn.execute("SELECT id FROM kb_documents WHERE folder = ?", (key,)).fetchall():
                _remove_doc(conn, scheme, int(doc_id))
                report.removed += 1
            conn.execute("DELETE FROM kb_folders WHERE path = ?", (key,))
            conn.execute("DELETE FROM kb_skipped WHERE folder = ?", (key,))


def _index_folder(
    conn: sqlite3.Connection,
    scheme: str,
    folder: KnowledgeFolder,
    key: str,
    keywords: bool,
    max_bytes: int,
    now: Callable[[], float],
    report: IndexReport,
    warn: Callable[..., None],
) -> None:
    root = Path(key)
    label = folder_label(folder.path)
    known: dict[str, tuple[int, str, float, int]] = {
        str(r[1]): (int(r[0]), str(r[2]), float(r[3]), int(r[4]))
        for r in conn.execute("SELECT id, path, sha256, mtime, size FROM kb_documents WHERE folder = ?", (key,))
    }
    skipped: dict[str, tuple[float, int, str]] = {
        str(r[0]): (float(r[1]), int(r[2]), str(r[3]))
        for r in conn.execute("SELECT path, mtime, size, reason FROM kb_skipped WHERE folder = ?", (key,))
    }
    seen: set[str] = set()
    with _transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO kb_folders(path, label, channels, indexed_at) VALUES (?, ?, ?, ?)",
            (key, label, json.dumps(list(folder.channels)), now()),
        )
    if not root.is_dir():
        warn(f"{label}: folder not found (its documents are removed from the index)")
        files: Iterator[Path] = iter(())
    else:
        files = _walk(root)
    batch_started = time.monotonic()
    conn.execute("BEGIN IMMEDIATE")
    try:
        for file in files:
            rel = file.relative_to(root).as_posix()
            suffix = file.suffix.lower()
            if suffix not in SUFFIXES:
                report.ignored[suffix] = report.ignored.get(suffix, 0) + 1
                continue
            report.files += 1
            seen.add(rel)
            _index_file(
                conn,
                scheme,
                key,
                label,
                file,
                rel,
                known.get(rel),
                skipped.get(rel),
                keywords,
                max_bytes,
                now,
                report,
                warn,
            )
            if time.monotonic() - batch_started > COMMIT_EVERY_S:
                conn.execute("COMMIT")
                conn.execute("BEGIN IMMEDIATE")
                batch_started = time.monotonic()
        for rel, (doc_id, *_rest) in known.items():
            if rel not in seen:
                _remove_doc(conn, scheme, doc_id)
                report.removed += 1
        gone = [(key, rel) for rel in skipped if rel not in seen]
        conn.executemany("DELETE FROM kb_skipped WHERE folder = ? AND path = ?", gone)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _index_file(
    conn: sqlite3.Connection,
    scheme: str,
    key: str,
    label: str,
    file: Path,
    rel: str,
    known: tuple[int, str, float, int] | None,
    skipped: tuple[float, int, str] | None,
    keywords: bool,
    max_bytes: int,
    now: Callable[[], float],
    report: IndexReport,
    warn: Callable[..., None],
) -> None:
    shown = f"{label.rstrip('/')}/{rel}"
    mtime, size = -1.0, -1

    def skip(reason: str) -> None:
        if known is not None:  # a file that can no longer be indexed takes its old chunks with it
            _remove_doc(conn, scheme, known[0])
            report.removed += 1
        conn.execute(
            "INSERT OR REPLACE INTO kb_skipped(folder, path, mtime, size, reason) VALUES (?, ?, ?, ?, ?)",
            (key, rel, mtime, size, reason),
        )
        warn(f"{shown}: skipped, {reason}")

    try:
        st = file.stat()
        mtime, size = st.st_mtime, st.st_size
        if known is not None and known[2] == mtime and known[3] == size:
            report.unchanged += 1
            return
        if known is None and skipped is not None and skipped[:2] == (mtime, size):
            warn(f"{shown}: skipped, {skipped[2]}", new=False)  # unchanged since it was skipped: not read again
            return
        if size > max_bytes:
            raise Unreadable(f"{size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit")
        data = file.read_bytes()
    except OSError as exc:
        skip(f"cannot be read ({exc.strerror or type(exc).__name__})")
        return
    except Unreadable as exc:
        skip(str(exc))
        return
    digest = hashlib.sha256(data).hexdigest()
    if known is not None and known[1] == digest:
        conn.execute("UPDATE kb_documents SET mtime = ?, size = ? WHERE id = ?", (mtime, size, known[0]))
        report.unchanged += 1
        return
    try:
        doc = extract(file, data)
    except Unreadable as exc:
        skip(str(exc))
        return
    chunks = chunk(doc)
    if known is not None:
        _remove_doc(conn, scheme, known[0])
    if skipped is not None:
        conn.execute("DELETE FROM kb_skipped WHERE folder = ? AND path = ?", (key, rel))
    cur = conn.execute(
        "INSERT INTO kb_documents(folder, path, title, keywords, sha256, mtime, size, chunks, indexed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key,
            rel,
            doc.title,
            json.dumps(list(doc.keywords), ensure_ascii=False),
            digest,
            mtime,
            size,
            len(chunks),
            now(),
        ),
    )
    doc_id = int(cur.lastrowid or 0)
    words = " ".join(doc.keywords) if keywords else ""
    for c in chunks:
        cur = conn.execute(
            "INSERT INTO kb_chunks(doc_id, ordinal, heading, text) VALUES (?, ?, ?, ?)",
            (doc_id, c.ordinal, c.heading, c.text),
        )
        insert_fts(conn, scheme, int(cur.lastrowid or 0), doc.title, c.heading, words, c.text)
    if known is None:
        report.added += 1
    else:
        report.updated += 1


def ensure_index(store: StoreLike, folders: Sequence[KnowledgeFolder]) -> IndexReport | None:
    """index() for a server's start (or a periodic job): never raises; a summary line and each newly
    skipped file go to the log. None when the store cannot be used (logged in one line)."""
    try:
        report = index(store, folders)
    except KbError as exc:
        log.warning("kb index: %s", exc)
        return None
    log.info("kb %s", report.summary())
    return report


def stats(store: StoreLike) -> dict[str, Any]:
    """Folders (with channels, documents, chunks), totals, the scheme and the last index time."""
    conn, owned = connect(store, write=False)
    if conn is None or not has_index(conn):
        if owned and conn is not None:
            conn.close()
        return {"indexed": False, "folders": [], "documents": 0, "chunks": 0}
    try:
        folders = []
        for path, label, channels, at in conn.execute(
            "SELECT path, label, channels, indexed_at FROM kb_folders ORDER BY label"
        ).fetchall():
            docs, chunks, chars = conn.execute(
                "SELECT count(DISTINCT d.id), count(c.id), coalesce(sum(length(c.text)), 0) FROM kb_documents d "
                "LEFT JOIN kb_chunks c ON c.doc_id = d.id WHERE d.folder = ?",
                (path,),
            ).fetchone()
            folders.append(
                {
                    "key": path,
                    "path": label,
                    "channels": json.loads(channels or "[]"),
                    "documents": int(docs),
                    "chunks": int(chunks),
                    "chars": int(chars),
                    "indexed_at": at,
                }
            )
        m = meta(conn)
        return {
            "indexed": True,
            "scheme": m.get("scheme"),
            "keywords": m.get("keywords") == "1",
            "folders": folders,
            "documents": int(conn.execute("SELECT count(*) FROM kb_documents").fetchone()[0]),
            "chunks": int(conn.execute("SELECT count(*) FROM kb_chunks").fetchone()[0]),
        }
    finally:
        if owned:
            conn.close()
