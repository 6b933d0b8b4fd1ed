"""The events ledger: delivery exactly once. An event is stored as received before any work, and finished
(its raw text dropped) only when every reply for it has been posted."""

from __future__ import annotations

import json
from typing import Any

from bot.store.base import Conn, StoreBase


class EventStore(StoreBase):
    def record_event(self, platform: str, event_id: str, kind: str, payload: dict[str, Any], at: float) -> bool:
        """Store an event as received; False when (platform, event_id) was seen before."""

        def fn(c: Conn) -> bool:
            cur = c.execute(
                "INSERT INTO events(platform, event_id, kind, payload, state, received_at) "
                "VALUES (?, ?, ?, ?, 'received', ?) ON CONFLICT DO NOTHING",
                (platform, event_id, kind, json.dumps(payload, ensure_ascii=False), at),
            )
            return cur.rowcount == 1

        return self._write(fn)

    def finish_event(self, platform: str, event_id: str, state: str, at: float) -> None:
        """Mark an event finished (done, ignored, rate_limited, rejected, failed) and drop its raw text."""
        self._write(
            lambda c: c.execute(
                "UPDATE events SET state = ?, done_at = ?, payload = NULL WHERE platform = ? AND event_id = ?",
                (state, at, platform, event_id),
            )
        )

    def event_state(self, platform: str, event_id: str) -> str | None:
        rows = self._read("SELECT state FROM events WHERE platform = ? AND event_id = ?", (platform, event_id))
        return str(rows[0]["state"]) if rows else None

    def pending_events(self) -> list[tuple[str, dict[str, Any]]]:
        """Events received but not finished (after a crash), oldest first: (kind, payload)."""
        rows = self._read("SELECT kind, payload FROM events WHERE state = 'received' ORDER BY seq")
        return [(str(r["kind"]), json.loads(r["payload"])) for r in rows if r["payload"]]

    def event_counts(self) -> dict[str, int]:
        rows = self._read("SELECT state, count(*) AS n FROM events GROUP BY state")
        return {str(r["state"]): int(r["n"]) for r in rows}

