"""Escalations: the human-review lifecycle. The original request is held only encrypted (Fernet,
SO8T_DATA_KEY) while the case is open and within retention, else only masked; opening and resolving a
case are chained (bot/store/chain.py) in the same transaction as the table row."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.events import Escalation, Resolution
from bot.store.base import Conn, mask_text
from bot.store.chain import ChainStore, _columns


class EscalationStore(ChainStore):
    def open_escalation(
        self,
        decision_id: int,
        kind: str,
        domain: str,
        base: dict[str, Any],
        request_text: str,
        opened_at: float,
        deadline: float,
    ) -> Escalation:
        """Open (or return the already open) escalation for this decision and kind: idempotent."""

        def fn(c: Conn) -> int:
            row = c.execute(
                "SELECT id FROM escalations WHERE decision_id = ? AND kind = ?", (decision_id, kind)
            ).fetchone()
            if row:
                return int(row[0])
            cols = {
                **base,
                "decision_id": decision_id,
                "kind": kind,
                "domain": domain,
                "status": "open",
                "request_text": mask_text(request_text),  # never the original in clear
                "request_enc": self.cipher.encrypt(request_text) if self.cipher is not None else None,
                "opened_at": opened_at,
                "deadline": deadline,
            }
            cur = c.execute(
                f"INSERT INTO escalations({_columns(tuple(cols))}) VALUES ({', '.join('?' for _ in cols)}) "
                "RETURNING id",
                list(cols.values()),
            )
            esc_id = int(cur.fetchone()[0])
            self._append(
                c,
                {
                    "kind": "escalation",
                    "ts": opened_at,
                    "platform": base.get("platform"),
                    "channel": base.get("channel"),
                    "thread": base.get("thread"),
                    "user": base.get("user"),
                    "event_id": None,
                    "lang": base.get("lang"),
                    "verdict": "OPEN",
                    "category": domain,
                    "confidence": None,
                    "probs": None,
                    "rationale": None,
                    "reason": kind,
                    "latency_ms": None,
                    "model_id": None,
                    "head_id": None,
                    "text_masked": base.get("text_masked"),
                    "text_sha256": self.text_hash(request_text),
                    "escalation_id": esc_id,
                    "ref_id": decision_id,
                },
            )
            return esc_id

        esc_id = self._write(fn)
        esc = self.get_escalation(esc_id)
        assert esc is not None
        return esc

    def escalation_request(self, esc_id: int) -> str | None:
        """The request as a reviewer may see it: the decrypted original while it is held (SO8T_DATA_KEY
        set, case open, within retention), else its masked form; None once forgotten."""
        rows = self._read("SELECT request_text, request_enc FROM escalations WHERE id = ?", (esc_id,))
        if not rows:
            return None
        if rows[0]["request_enc"] and self.cipher is not None:
            original = self.cipher.decrypt(rows[0]["request_enc"])
            if original is not None:
                return original
        return rows[0]["request_text"]

    def get_escalation(self, esc_id: int) -> Escalation | None:
        rows = self._read("SELECT * FROM escalations WHERE id = ?", (esc_id,))
        return _escalation_from_row(rows[0]) if rows else None

    def open_escalations(self) -> list[Escalation]:
        return [
            _escalation_from_row(r) for r in self._read("SELECT * FROM escalations WHERE status = 'open' ORDER BY id")
        ]

    def set_card(self, esc_id: int, channel: str, ref: str) -> None:
        self._write(
            lambda c: c.execute(
                "UPDATE escalations SET card_channel = ?, card_ref = ? WHERE id = ?", (channel, ref, esc_id)
            )
        )

    def due_reminders(self, now: float) -> list[Escalation]:
        rows = self._read(
            "SELECT * FROM escalations WHERE status = 'open' AND deadline <= ? AND reminded_at IS NULL ORDER BY id",
            (now,),
        )
        return [_escalation_from_row(r) for r in rows]

    def mark_reminded(self, esc_id: int, at: float) -> None:
        self._write(lambda c: c.execute("UPDATE escalations SET reminded_at = ? WHERE id = ?", (at, esc_id)))

    def resolve_escalation(self, res: Resolution) -> tuple[Escalation, bool]:
        """Resolve once: (escalation, True) when this call (or a replay of its event) resolved it."""

        def fn(c: Conn) -> bool:
            # the conditional UPDATE is the decision: on PostgreSQL it takes the row lock and, when another
            # replica resolved the case meanwhile, re-reads the row and updates nothing; SQLite writes one at a time
            updated = c.execute(
                "UPDATE escalations SET status = 'resolved', resolved_at = ?, reviewer = ?, action = ?, "
                "resolution_text = ?, resolution_event_id = ? WHERE id = ? AND status <> 'resolved'",
                (res.at, res.reviewer, res.action, mask_text(res.text), res.event_id, res.escalation_id),
            ).rowcount
            row = c.execute(
                'SELECT status, resolution_event_id, decision_id, platform, channel, thread, "user", lang, '
                "domain, text_masked FROM escalations WHERE id = ?",
                (res.escalation_id,),
            ).fetchone()
            if row is None:
                raise KeyError(res.escalation_id)
            if updated != 1:  # resolved already (by this event's replay, or by another)
                return bool(res.event_id) and row[1] == res.event_id
            self._append(
                c,
                _reviewer_row(
                    "resolution",
                    res.at,
                    (row[3], row[4], row[5], row[7], row[8]),
                    res.reviewer,
                    res.event_id,
                    res.action.upper(),
                    mask_text(res.text),
                    self.text_hash(res.text),
                    res.escalation_id,
                    row[2],
                ),
            )
            return True

        won = self._write(fn)
        esc = self.get_escalation(res.escalation_id)
        assert esc is not None
        if won and esc.resolution is not None and esc.resolution.event_id == res.event_id:
            # the store keeps the reviewer's text masked; the asker is sent the reviewer's own words
            esc = dataclasses.replace(esc, resolution=dataclasses.replace(esc.resolution, text=res.text))
        return esc, won

    def save_to_kb(self, esc_id: int, user: str, event_id: str, at: float, path: str) -> tuple[dict[str, Any], bool]:
        """Chain that `user` saved the case's answer to the knowledge base as `path` (kind "kb_saved"), once:
        (the chained row, True) for the first save; (the earlier row, False) when the case was saved already."""

        def fn(c: Conn) -> bool:
            self._lock_chain(c)  # before the check: two replicas saving the same case at once chain it once
            if c.execute(
                "SELECT id FROM decisions WHERE kind = 'kb_saved' AND escalation_id = ? LIMIT 1", (esc_id,)
            ).fetchone():
                return False
            row = c.execute(
                "SELECT decision_id, platform, channel, thread, lang, domain FROM escalations WHERE id = ?", (esc_id,)
            ).fetchone()
            if row is None:
                raise KeyError(esc_id)
            self._append(
                c,
                _reviewer_row(
                    "kb_saved", at, tuple(row[1:6]), user, event_id, "SAVED", path, self.text_hash(path), esc_id, row[0]
                ),
            )
            return True

        won = self._write(fn)
        saved = self.kb_saved(esc_id)
        assert saved is not None
        return saved, won

    def kb_saved(self, esc_id: int) -> dict[str, Any] | None:
        """The chained save of the case's answer to the knowledge base (user, ts, text_masked = the file), if any."""
        rows = self._read(
            "SELECT * FROM decisions WHERE kind = 'kb_saved' AND escalation_id = ? ORDER BY id LIMIT 1", (esc_id,)
        )
        return rows[0] if rows else None

    def drop_request_text(self, esc_id: int) -> None:
        """Forget the request once the resolution has been posted (the masked text stays)."""
        self._write(
            lambda c: c.execute(
                "UPDATE escalations SET request_text = NULL, request_enc = NULL WHERE id = ?", (esc_id,)
            )
        )

    def purge(self, before: float, now: float) -> dict[str, int]:
        """Forget originals older than `before`: encrypted requests of escalations opened before it,
        and the raw payload of events received before it and never finished (marked 'expired')."""

        def fn(c: Conn) -> dict[str, int]:
            requests = c.execute(
                "UPDATE escalations SET request_enc = NULL WHERE request_enc IS NOT NULL AND opened_at < ?",
                (before,),
            ).rowcount
            events = c.execute(
                "UPDATE events SET payload = NULL, state = 'expired', done_at = ? "
                "WHERE state = 'received' AND received_at < ?",
                (now, before),
            ).rowcount
            return {"requests": int(requests), "events": int(events)}

        return self._write(fn)

    def escalation_rows(self, since: float | None, until: float | None) -> list[dict[str, Any]]:
        """Escalations that were open at some time in [since, until) (opened before until, not resolved
        before since), without the raw request text."""
        clauses, params = ["1 = 1"], []
        if until is not None:
            clauses.append("opened_at < ?")
            params.append(until)
        if since is not None:
            clauses.append("(resolved_at IS NULL OR resolved_at >= ?)")
            params.append(since)
        cols = (
            "id, decision_id, kind, domain, platform, channel, lang, verdict, category, confidence, status, "
            "opened_at, deadline, resolved_at, reviewer, action, text_masked"
        )
        return self._read(f"SELECT {cols} FROM escalations WHERE {' AND '.join(clauses)} ORDER BY id", tuple(params))

    def resolved_since(self, since: float | None, until: float) -> list[Escalation]:
        """Escalations resolved in [since, until), oldest resolution first (the feedback job's input)."""
        rows = self._read(
            "SELECT * FROM escalations WHERE status = 'resolved' AND resolved_at < ? AND resolved_at >= ? "
            "ORDER BY resolved_at, id",
            (until, since if since is not None else float("-inf")),
        )
        return [_escalation_from_row(r) for r in rows]


def _escalation_from_row(r: dict[str, Any]) -> Escalation:
    resolution = None
    if r["status"] == "resolved":
        resolution = Resolution(
            escalation_id=int(r["id"]),
            action=r["action"] or "",
            reviewer=r["reviewer"] or "",
            text=r["resolution_text"] or "",
            at=float(r["resolved_at"] or 0.0),
            event_id=r["resolution_event_id"] or "",
        )
    return Escalation(
        id=int(r["id"]),
        decision_id=int(r["decision_id"]),
        kind=r["kind"],
        domain=r["domain"],
        platform=r["platform"] or "",
        channel=r["channel"] or "",
        thread=r["thread"] or "",
        user=r["user"] or "",
        text_masked=r["text_masked"] or "",
        lang=r["lang"] or "en",
        verdict=r["verdict"] or "",
        category=r["category"] or "",
        confidence=float(r["confidence"] or 0.0),
        rationale=r["rationale"] or "",
        status=r["status"],
        opened_at=float(r["opened_at"]),
        deadline=float(r["deadline"]),
        reminded_at=r["reminded_at"],
        card_channel=r["card_channel"],
        card_ref=r["card_ref"],
        resolution=resolution,
    )


def _reviewer_row(
    kind: str,
    ts: float,
    where: tuple[Any, ...],
    user: str,
    event_id: str,
    verdict: str,
    text_masked: str,
    text_sha256: str,
    escalation_id: int,
    ref_id: Any,
) -> dict[str, Any]:
    """A chained row of a reviewer's act on a case; `where` = the case's (platform, channel, thread, lang, domain)."""
    platform, channel, thread, lang, domain = where
    return {
        "kind": kind,
        "ts": ts,
        "platform": platform,
        "channel": channel,
        "thread": thread,
        "user": user,
        "event_id": event_id,
        "lang": lang,
        "verdict": verdict,
        "category": domain,
        "confidence": None,
        "probs": None,
        "rationale": None,
        "reason": "reviewer",
        "latency_ms": None,
        "model_id": None,
        "head_id": None,
        "text_masked": text_masked,
        "text_sha256": text_sha256,
        "escalation_id": escalation_id,
        "ref_id": ref_id,
    }
