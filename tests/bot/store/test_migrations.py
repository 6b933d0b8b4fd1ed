"""One numbered migration sequence: a v4 file (before the ledger's and the console's tables joined it)
upgrades, with or without the tables those modules used to create themselves (CREATE IF NOT EXISTS)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from adapters.console.workspace import Workspace
from adapters.ledger import Ledger, Posted
from bot.store import MIGRATIONS, SCHEMA_VERSION, AuditStore, Conn
from bot.store.dialect import SQLITE

# What adapters/ledger.py and adapters/console/workspace.py created on their own before schema v5.
OLD_SELF_MADE_TABLES = (
    """CREATE TABLE IF NOT EXISTS adapter_posts (
        platform TEXT NOT NULL, key TEXT NOT NULL, ref TEXT NOT NULL, channel TEXT NOT NULL,
        thread TEXT, kind TEXT NOT NULL, buttons TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (platform, key))""",
    "CREATE INDEX IF NOT EXISTS adapter_posts_ref ON adapter_posts(platform, ref)",
    """CREATE TABLE IF NOT EXISTS adapter_threads (
        platform TEXT NOT NULL, channel TEXT NOT NULL, thread TEXT NOT NULL, target TEXT NOT NULL,
        PRIMARY KEY (platform, channel, thread))""",
    """CREATE TABLE IF NOT EXISTS adapter_aliases (
        platform TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (platform, name))""",
    """CREATE TABLE [console_messages] ([seq] INTEGER PRIMARY KEY, [id] TEXT NOT NULL, [channel] TEXT NOT NULL,
        [thread] TEXT NOT NULL, [user] TEXT NOT NULL, [text] TEXT NOT NULL, [ts] FLOAT NOT NULL, [actions] TEXT,
        [key] TEXT, [kind] TEXT)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS console_id ON console_messages(id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS console_key ON console_messages(key)",
)


def _v4_file(path: Path, self_made: bool) -> None:
    conn = sqlite3.connect(str(path), isolation_level=None)
    c = Conn(conn, SQLITE)
    for migration in MIGRATIONS[:4]:
        migration(c)
    conn.execute("PRAGMA user_version = 4")
    conn.execute(
        "INSERT INTO events(platform, event_id, kind, payload, state, received_at) "
        "VALUES ('console', 'e1', 'message', '{}', 'received', 1.0)"
    )
    if self_made:
        for sql in OLD_SELF_MADE_TABLES:
            conn.execute(sql)
        conn.execute(
            "INSERT INTO adapter_posts(platform, key, ref, channel, thread, kind) "
            "VALUES ('slack', 'reply:e1', '171.1', 'C1', NULL, 'answer')"
        )
        conn.execute(
            "INSERT INTO console_messages(id, channel, thread, user, text, ts, actions, key, kind) "
            "VALUES ('m1', 'general', 'm1', 'ann', 'call me at 090-1234-5678', 1.0, '', NULL, 'message')"
        )
    conn.close()


def test_a_v4_file_upgrades_to_the_current_schema(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _v4_file(db, self_made=False)
    store = AuditStore(db, audit_key=None, data_key=None)
    assert SCHEMA_VERSION >= 5 and store.schema_version() == SCHEMA_VERSION
    assert {"adapter_posts", "adapter_threads", "adapter_aliases", "console_messages", "console_meta"} <= (
        store.table_names()
    )
    assert store.event_state("console", "e1") == "received"  # data kept
    ledger = Ledger(db)
    ledger.put("slack", Posted("k", "r1", "C1", None, "answer", "[]"))
    assert ledger.get("slack", "k") == Posted("k", "r1", "C1", None, "answer", "[]")
    ledger.close()
    store.close()


def test_a_v4_file_that_already_holds_the_self_made_tables_upgrades(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _v4_file(db, self_made=True)
    ledger = Ledger(db)  # the first opener migrates, whoever it is
    assert ledger.get("slack", "reply:e1") == Posted("reply:e1", "171.1", "C1", None, "answer", "[]")
    ledger.put("slack", Posted("reply:e1#2", "171.2", "C1", None, "answer", "[]"))
    assert ledger.parts("slack", "reply:e1") == ["171.2"]
    ws = Workspace(db, clock=lambda: 2.0)
    row = ws.get("m1")
    assert row is not None and "090-1234-5678" not in row["text"]  # masked once by migration 5
    assert ws.add("general", None, "bob", "hi", key="k1")[1] and not ws.add("general", None, "bob", "hi", "k1")[1]
    store = AuditStore(db, audit_key=None, data_key=None)
    assert store.schema_version() == SCHEMA_VERSION
    for closeable in (ws, ledger, store):
        closeable.close()


def test_a_new_file_opened_by_the_store_and_the_ledger_is_migrated_once(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    first, second = AuditStore(db, audit_key=None, data_key=None), Ledger(db)
    assert first.schema_version() == SCHEMA_VERSION
    first.close()
    second.close()
