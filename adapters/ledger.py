"""What the chat adapters have posted, kept in the bot's store so posting stays exactly-once across
restarts and across replicas: key -> message ref (with its channel, thread, kind and buttons), the threads
the bot takes part in (for follow-ups without a mention), and channel names resolved to ids. The tables are
created by the store's migrations (bot/store/migrations.py, v5); SQLite or PostgreSQL alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.store import Database


@dataclass(frozen=True)
class Posted:
    key: str
    ref: str
    channel: str  # where the message really is (a channel id, or a Discord thread's id)
    thread: str | None
    kind: str
    buttons: str  # JSON list of [action, label, value, style]


class Ledger:
    """One small table set per platform; every database failure becomes a one-line StoreError."""

    def __init__(self, path: str | Path) -> None:
        """`path`: the store (a SQLite path or a postgresql:// URL), migrated when it is behind."""
        self.db = Database(path, what="adapter ledger in", role="adapter ledger")
        self.path = self.db.label
        self._order = self.db.dialect.order_col

    def _exec(self, sql: str, params: tuple[str | None, ...]) -> list[tuple[str, ...]]:
        return self.db.execute(sql, params)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ posts
    def get(self, platform: str, key: str) -> Posted | None:
        rows = self._exec(
            "SELECT key, ref, channel, thread, kind, buttons FROM adapter_posts WHERE platform=? AND key=?",
            (platform, key),
        )
        return Posted(*rows[0]) if rows else None

    def by_ref(self, platform: str, ref: str) -> Posted | None:
        rows = self._exec(
            "SELECT key, ref, channel, thread, kind, buttons FROM adapter_posts WHERE platform=? AND ref=?"
            f" ORDER BY {self._order} LIMIT 1",
            (platform, ref),
        )
        return Posted(*rows[0]) if rows else None

    def put(self, platform: str, posted: Posted) -> None:
        self._exec(
            "INSERT INTO adapter_posts(platform, key, ref, channel, thread, kind, buttons)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (platform, posted.key, posted.ref, posted.channel, posted.thread, posted.kind, posted.buttons),
        )

    def set_buttons(self, platform: str, ref: str, buttons: str) -> None:
        self._exec("UPDATE adapter_posts SET buttons=? WHERE platform=? AND ref=?", (buttons, platform, ref))

    def parts(self, platform: str, key: str) -> list[str]:
        """Refs of the continuation messages of a long post (keys `key#2`, `key#3`, ...), in order."""
        rows = self._exec(
            f"SELECT ref FROM adapter_posts WHERE platform=? AND key LIKE ? ESCAPE '\\' ORDER BY {self._order}",
            (platform, key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "#%"),
        )
        return [r[0] for r in rows]

    def kinds(self, platform: str, refs: list[str]) -> dict[str, str]:
        if not refs:
            return {}
        marks = ",".join("?" * len(refs))
        rows = self._exec(
            f"SELECT ref, kind FROM adapter_posts WHERE platform=? AND ref IN ({marks})", (platform, *refs)
        )
        return {r[0]: r[1] for r in rows}

    # ------------------------------------------------------------------ threads
    def join_thread(self, platform: str, channel: str, thread: str, target: str | None = None) -> None:
        """Remember that the bot takes part in this thread (`target`: where its messages go)."""
        self._exec(
            "INSERT INTO adapter_threads(platform, channel, thread, target) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (platform, channel, thread, target or thread),
        )

    def thread_target(self, platform: str, channel: str, thread: str) -> str | None:
        rows = self._exec(
            "SELECT target FROM adapter_threads WHERE platform=? AND channel=? AND thread=?",
            (platform, channel, thread),
        )
        return rows[0][0] if rows else None

    def in_thread(self, platform: str, channel: str, thread: str) -> bool:
        """Is the bot part of this thread (by its root, or by the thread channel it posts in)?"""
        rows = self._exec(
            "SELECT 1 FROM adapter_threads WHERE platform=? AND ((channel=? AND thread=?) OR target=?) LIMIT 1",
            (platform, channel, thread, thread),
        )
        return bool(rows)

    # ------------------------------------------------------------------ channel names
    def alias(self, platform: str, name: str) -> str | None:
        rows = self._exec("SELECT id FROM adapter_aliases WHERE platform=? AND name=?", (platform, name))
        return rows[0][0] if rows else None

    def set_alias(self, platform: str, name: str, channel_id: str) -> None:
        self._exec(
            "INSERT INTO adapter_aliases(platform, name, id) VALUES (?, ?, ?) "
            "ON CONFLICT(platform, name) DO UPDATE SET id = excluded.id",
            (platform, name, channel_id),
        )
