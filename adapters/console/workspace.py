"""The console's own message store (channels, threads, bot replies), kept in the bot's store so the page
survives a restart. Posting with a key that exists returns the existing message: idempotent.

Text is PII-masked before it is stored (bot.pii.mask), messages and the bot's answers alike: the
console shows `[PHONE]` where a number was typed. The bot itself is handed the original text of a
new message (in memory); earlier turns of a thread reach the model masked."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.pii import mask
from bot.store import Database


class Workspace:
    def __init__(self, path: str | Path, clock: Callable[[], float]) -> None:
        """`path`: the store (a SQLite path or a postgresql:// URL); its tables come from the store's
        migrations (bot/store/migrations.py, v5), which also mask what older versions stored in clear."""
        self.clock = clock
        self.db = Database(path, what="console workspace in", role="console workspace")

    def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        rows = self.db.read(sql, params)
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
        created = self.db.write(
            lambda c: c.execute(
                'INSERT INTO console_messages(id, channel, thread, "user", text, ts, actions, key, kind) '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (mid, channel, thread or mid, user, mask(text).text, self.clock(), actions, key, kind),
            ).rowcount
        )
        if not created:  # another writer posted with this key first
            found = self._one("SELECT * FROM console_messages WHERE key = ?", (key,))
            if found:
                return found, False
        row = self.get(mid)
        assert row is not None
        return row, True

    def update(self, mid: str, text: str, actions: str | None) -> None:
        text = mask(text).text
        if actions is None:
            self.db.execute("UPDATE console_messages SET text = ? WHERE id = ?", (text, mid))
        else:
            self.db.execute("UPDATE console_messages SET text = ?, actions = ? WHERE id = ?", (text, actions, mid))

    def get(self, mid: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM console_messages WHERE id = ?", (mid,))

    def messages(
        self, channel: str, thread: str | None = None, after: int = 0, limit: int = 5000
    ) -> list[dict[str, Any]]:
        if thread:
            sql = "SELECT * FROM console_messages WHERE channel = ? AND thread = ? AND seq > ? ORDER BY seq LIMIT ?"
            return self.db.read(sql, (channel, thread, after, limit))
        sql = "SELECT * FROM console_messages WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?"
        return self.db.read(sql, (channel, after, limit))

    def thread_rows(self, channel: str, thread: str, before: str) -> list[dict[str, Any]]:
        """The thread's messages before message `before` (all of them when `before` is not in it)."""
        anchor = self._one("SELECT seq FROM console_messages WHERE id = ?", (before,)) if before else None
        limit_seq = anchor["seq"] if anchor else 1 << 62
        return self.db.read(
            "SELECT * FROM console_messages WHERE channel = ? AND thread = ? AND seq < ? ORDER BY seq",
            (channel, thread, limit_seq),
        )

    def close(self) -> None:
        self.db.close()
