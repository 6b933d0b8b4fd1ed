"""The console's own message store (channels, threads, bot replies), kept in SQLite so the page
survives a restart. Posting with a key that exists returns the existing message: idempotent.

Text is PII-masked before it is stored (bot.pii.mask), messages and the bot's answers alike: the
console shows `[PHONE]` where a number was typed. The bot itself is handed the original text of a
new message (in memory); earlier turns of a thread reach the model masked."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.errors import StoreError
from bot.pii import mask


class Workspace:
    def __init__(self, path: str | Path, clock: Callable[[], float]) -> None:
        self.clock = clock
        try:
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=5.0)
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA secure_delete = ON")  # text rewritten masked leaves no copy behind
            self.db = Database(conn)
            if "console_messages" not in self.db.table_names():
                self.db.table("console_messages").create(
                    {
                        "seq": int,
                        "id": str,
                        "channel": str,
                        "thread": str,
                        "user": str,
                        "text": str,
                        "ts": float,
                        "actions": str,
                        "key": str,
                        "kind": str,
                    },
                    pk="seq",
                    not_null={"id", "channel", "thread", "user", "text", "ts"},
                    if_not_exists=True,
                )
                conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS console_id ON console_messages(id)")
                conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS console_key ON console_messages(key)")
                conn.execute("CREATE INDEX IF NOT EXISTS console_thread ON console_messages(channel, thread, seq)")
            self._mask_existing()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the console workspace in {path}: {exc}") from None
        self.conn = conn

    def _mask_existing(self) -> None:
        """Once per file: mask what versions before masking-on-write stored in clear."""
        self.db.execute("CREATE TABLE IF NOT EXISTS console_meta (key TEXT PRIMARY KEY, value TEXT)")
        if self.db.execute("SELECT 1 FROM console_meta WHERE key = 'masked'").fetchone():
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for seq, text in self.db.execute("SELECT seq, text FROM console_messages").fetchall():
                masked = mask(text).text
                if masked != text:
                    self.db.execute("UPDATE console_messages SET text = ? WHERE seq = ?", (masked, seq))
            self.db.execute("INSERT OR REPLACE INTO console_meta(key, value) VALUES ('masked', '1')")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        rows = list(self.db.query(sql, params))
        return rows[0] if rows else None

    def add(
        self,
        channel: str,
        thread: str | None,
        user: str,
        text: str,
        key: str | None,
        actions: str = "",
        kind: str = "message",
    ) -> tuple[dict[str, Any], bool]:
        """Insert a message, PII masked (thread None = a new thread rooted at it); (row, created)."""
        if key is not None:
            found = self._one("SELECT * FROM console_messages WHERE key = ?", (key,))
            if found:
                return found, False
        mid = uuid.uuid4().hex[:16]
        try:
            self.conn.execute(
                "INSERT INTO console_messages(id, channel, thread, user, text, ts, actions, key, kind) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (mid, channel, thread or mid, user, mask(text).text, self.clock(), actions, key, kind),
            )
        except sqlite3.IntegrityError:
            found = self._one("SELECT * FROM console_messages WHERE key = ?", (key,))
            if found:
                return found, False
            raise
        row = self.get(mid)
        assert row is not None
        return row, True

    def update(self, mid: str, text: str, actions: str | None) -> None:
        text = mask(text).text
        if actions is None:
            self.conn.execute("UPDATE console_messages SET text = ? WHERE id = ?", (text, mid))
        else:
            self.conn.execute("UPDATE console_messages SET text = ?, actions = ? WHERE id = ?", (text, actions, mid))

    def get(self, mid: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM console_messages WHERE id = ?", (mid,))

    def messages(
        self, channel: str, thread: str | None = None, after: int = 0, limit: int = 5000
    ) -> list[dict[str, Any]]:
        if thread:
            sql = "SELECT * FROM console_messages WHERE channel = ? AND thread = ? AND seq > ? ORDER BY seq LIMIT ?"
            return list(self.db.query(sql, (channel, thread, after, limit)))
        sql = "SELECT * FROM console_messages WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?"
        return list(self.db.query(sql, (channel, after, limit)))

    def thread_rows(self, channel: str, thread: str, before: str) -> list[dict[str, Any]]:
        """The thread's messages before message `before` (all of them when `before` is not in it)."""
        anchor = self._one("SELECT seq FROM console_messages WHERE id = ?", (before,)) if before else None
        limit_seq = anchor["seq"] if anchor else 1 << 62
        return list(
            self.db.query(
                "SELECT * FROM console_messages WHERE channel = ? AND thread = ? AND seq < ? ORDER BY seq",
                (channel, thread, limit_seq),
            )
        )

    def close(self) -> None:
        self.conn.close()
