"""The events ledger: delivery exactly once. An event is stored as received before any work, and finished
(its raw text dropped) only when every reply for it has been posted.

Replicas (`so8t serve` processes on one PostgreSQL) share the table. An event is claimed by the replica that
stored it (`claimed_by`, `lease_until`); a live replica renews its leases (`renew_leases`), and an event
whose lease ran out (its replica died) is claimed by another (`claim_events`: `FOR UPDATE SKIP LOCKED`, so
two replicas never claim one event). On SQLite (one process) every unfinished event is this process's.
"""

from __future__ import annotations

import json
from typing import Any

from bot.store.base import Conn, StoreBase


class EventStore(StoreBase):
    def record_event(self, platform: str, event_id: str, kind: str, payload: dict[str, Any], at: float) -> bool:
        """Store an event as received; False when (platform, event_id) was seen before."""

        def fn(c: Conn) -> bool:
            cur = c.execute(
                "INSERT INTO events(platform, event_id, kind, payload, state, received_at, claimed_by, lease_until) "
                "VALUES (?, ?, ?, ?, 'received', ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    platform,
                    event_id,
                    kind,
                    json.dumps(payload, ensure_ascii=False),
                    at,
                    self.owner,
                    self.clock() + self.lease_s,
                ),
            )
            return cur.rowcount == 1

        return self._write(fn)

    def finish_event(self, platform: str, event_id: str, state: str, at: float) -> None:
        """Mark an event finished (done, ignored, rate_limited, rejected, failed) and drop its raw text."""
        self._write(
            lambda c: c.execute(
                "UPDATE events SET state = ?, done_at = ?, payload = NULL, lease_until = NULL "
                "WHERE platform = ? AND event_id = ?",
                (state, at, platform, event_id),
            )
        )

    def event_state(self, platform: str, event_id: str) -> str | None:
        rows = self._read("SELECT state FROM events WHERE platform = ? AND event_id = ?", (platform, event_id))
        return str(rows[0]["state"]) if rows else None

    def pending_events(self) -> list[tuple[str, dict[str, Any]]]:
        """Unfinished events this process is to (re)do, oldest first: (kind, payload). SQLite: every
        received event (after a crash). PostgreSQL: those it claims now (unclaimed, or their lease ran out)."""
        if self.is_postgres:
            return self.claim_events()
        rows = self._read("SELECT kind, payload FROM events WHERE state = 'received' ORDER BY seq")
        return [(str(r["kind"]), json.loads(r["payload"])) for r in rows if r["payload"]]

    def claim_events(self, limit: int = 1000) -> list[tuple[str, dict[str, Any]]]:
        """Claim received events nobody holds (unclaimed, or another replica's lease ran out) for this replica,
        oldest first; rows another replica is claiming at the same moment are skipped (SKIP LOCKED), never
        shared. Its own unfinished events it never takes twice (they are in its hands, or failed midway and
        wait, as on SQLite, for its restart: a new process is a new owner)."""
        now = self.clock()

        def fn(c: Conn) -> list[tuple[str, dict[str, Any]]]:
            rows = c.execute(
                "SELECT seq, kind, payload FROM events WHERE state = 'received' AND payload IS NOT NULL "
                "AND (claimed_by IS NULL OR ((lease_until IS NULL OR lease_until <= ?) AND claimed_by <> ?)) "
                "ORDER BY seq LIMIT ?" + c.dialect.skip_locked,
                (now, self.owner, limit),
            ).fetchall()
            if rows:
                c.execute(
                    f"UPDATE events SET claimed_by = ?, lease_until = ? WHERE seq IN ({', '.join('?' for _ in rows)})",
                    (self.owner, now + self.lease_s, *(r[0] for r in rows)),
                )
            return [(str(r[1]), json.loads(r[2])) for r in rows]

        return self._write(fn)

    def renew_leases(self) -> int:
        """Extend the lease of every unfinished event this replica holds; how many."""
        return self._write(
            lambda c: c.execute(
                "UPDATE events SET lease_until = ? WHERE claimed_by = ? AND state = 'received'",
                (self.clock() + self.lease_s, self.owner),
            ).rowcount
        )

    def release_claims(self) -> int:
        """Give up this replica's unfinished events at once (a clean stop): another replica takes them."""
        return self._write(
            lambda c: c.execute(
                "UPDATE events SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = ? AND state = 'received'",
                (self.owner,),
            ).rowcount
        )

    def event_counts(self) -> dict[str, int]:
        rows = self._read("SELECT state, count(*) AS n FROM events GROUP BY state")
        return {str(r["state"]): int(r["n"]) for r in rows}

