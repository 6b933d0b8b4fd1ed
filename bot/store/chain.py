"""The audit chain: the append-only `decisions` table, each row's MAC covering its content and the previous
row's MAC, so `so8t audit verify` finds the first edit.

Rows are keyed (chain v2: HMAC-SHA256 with SO8T_AUDIT_KEY, which never enters the database) when the key
is set, else (and for rows written before v3 of the schema) a plain SHA-256 (chain v1). Besides the
decisions, the chain holds the verdicts on answers (kind `response`) and the escalation lifecycle (kind
`escalation` when one opens, `resolution` when a reviewer resolves it). It keeps text with PII masked plus
a keyed hash of the original, never the original. Signed checkpoints of its head are kept outside the
database (bot/checkpoint.py).

The chain stays linear under concurrent writers: SQLite serialises writers (BEGIN IMMEDIATE); on
PostgreSQL every append first takes one transaction-scoped advisory lock (pg_advisory_xact_lock), the
single serialisation point, and reads the head only once it holds it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.errors import StoreError
from bot.store.base import Conn, StoreBase, sha_text, ts_range
from bot.store.dialect import CHAIN_LOCK_KEY, POSTGRES, one_line
from bot.store.keys import AUDIT_KEY_ENV
from runtime.base import Decision

GENESIS = "0" * 64
CHAIN_V1 = 1  # unkeyed SHA-256 over CHAIN_FIELDS (every row before schema v3; rows written without a key)
CHAIN_V2 = 2  # HMAC-SHA256 with SO8T_AUDIT_KEY over CHAIN_V2_FIELDS

# Columns of `decisions` covered by the hash, in a fixed order (never reorder; add at the end).
CHAIN_FIELDS: tuple[str, ...] = (
    "id",
    "kind",
    "ts",
    "platform",
    "channel",
    "thread",
    "user",
    "event_id",
    "lang",
    "verdict",
    "category",
    "confidence",
    "probs",
    "rationale",
    "reason",
    "latency_ms",
    "model_id",
    "head_id",
    "text_masked",
    "text_sha256",
    "escalation_id",
    "prev_hash",
)
# Chain v2 covers two more columns (schema v3): the row an escalation row refers to, and the version.
CHAIN_V2_FIELDS: tuple[str, ...] = (*CHAIN_FIELDS, "ref_id", "chain_v")
STORED_FIELDS: tuple[str, ...] = (*CHAIN_V2_FIELDS, "hash")


class KeyMissing(StoreError):
    """A keyed (chain v2) row cannot be checked or written without SO8T_AUDIT_KEY."""


def row_hash(row: dict[str, Any], key: bytes | None = None) -> str:
    """The row's chain value: v1 (chain_v NULL or 1) is SHA-256 over the canonical JSON of
    CHAIN_FIELDS (prev_hash included); v2 is HMAC-SHA256 with `key` over CHAIN_V2_FIELDS."""
    version = row.get("chain_v") or CHAIN_V1
    if version == CHAIN_V1:
        payload = json.dumps([row.get(k) for k in CHAIN_FIELDS], ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()
    if version != CHAIN_V2:
        raise StoreError(f"audit row {row.get('id')} has an unknown chain version {version!r}")
    if key is None:
        raise KeyMissing(f"audit row {row.get('id')} is keyed: set {AUDIT_KEY_ENV} to check or extend the chain")
    payload = json.dumps([row.get(k) for k in CHAIN_V2_FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    first_broken: int | None = None
    reason: str = ""
    keyed: int = 0  # rows checked with the key (chain v2); the rest are unkeyed (v1)
    head: str = GENESIS  # the last row's MAC (what a checkpoint signs)


@dataclass(frozen=True)
class DecisionRecord:
    """What one decision row holds before it is chained."""

    ts: float
    platform: str
    channel: str
    thread: str
    user: str
    event_id: str
    decision: Decision
    latency_ms: float
    text_masked: str
    text_sha256: str


def _columns(fields: tuple[str, ...]) -> str:
    return ", ".join(f'"{k}"' for k in fields)  # quoted: "user" is a reserved word in PostgreSQL


class ChainStore(StoreBase):
    """The decisions table: append, look up, verify, export."""

    def _lock_chain(self, c: Conn) -> None:
        """Serialise with every other append until this write transaction ends: on PostgreSQL the chain's
        transaction-scoped advisory lock (taking it again in the same transaction is harmless); SQLite's
        write transaction (BEGIN IMMEDIATE) is already the only writer."""
        if c.dialect is POSTGRES:
            c.execute("SELECT pg_advisory_xact_lock(?)", (CHAIN_LOCK_KEY,))

    def _append(self, c: Conn, row: dict[str, Any]) -> int:
        """Chain one row: keyed (v2) when SO8T_AUDIT_KEY is set, else unkeyed (v1). Runs inside a write
        transaction; on PostgreSQL it first takes the chain's advisory lock (held until commit)."""
        self._lock_chain(c)
        last = c.execute("SELECT id, hash, chain_v FROM decisions ORDER BY id DESC LIMIT 1").fetchone()
        row = dict(row)
        row["id"] = (last[0] + 1) if last else 1
        row["prev_hash"] = last[1] if last else GENESIS
        if self.audit_key is not None:
            row["chain_v"] = CHAIN_V2
        elif last is not None and last[2] == CHAIN_V2:
            raise KeyMissing(f"the audit chain is keyed: set {AUDIT_KEY_ENV} to write to it")
        else:
            row["chain_v"] = None  # v1, exactly as before schema v3
        row.setdefault("ref_id", None)
        row["hash"] = row_hash(row, self.audit_key)
        c.execute(
            f"INSERT INTO decisions({_columns(STORED_FIELDS)}) VALUES ({', '.join('?' for _ in STORED_FIELDS)})",
            [row.get(k) for k in STORED_FIELDS],
        )
        return int(row["id"])

    def text_hash(self, text: str) -> str:
        """What the audit keeps of an original text: HMAC-SHA256 with SO8T_AUDIT_KEY when set (a
        guessed phone number cannot be confirmed against it without the key), else SHA-256."""
        if self.audit_key is None:
            return sha_text(text)
        return hmac.new(self.audit_key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    @staticmethod
    def _record_row(rec: DecisionRecord, kind: str, probs: dict[str, Any]) -> dict[str, Any]:
        """A decisions-table row of a verdict (the request's, or the answer's with kind "response")."""
        d = rec.decision
        return {
            "kind": kind,
            "ts": rec.ts,
            "platform": rec.platform,
            "channel": rec.channel,
            "thread": rec.thread,
            "user": rec.user,
            "event_id": rec.event_id,
            "lang": d.lang,
            "verdict": d.decision,
            "category": d.category,
            "confidence": round(float(d.confidence), 6),
            "probs": json.dumps(probs, sort_keys=True),
            "rationale": d.rationale,
            "reason": d.reason,
            "latency_ms": round(rec.latency_ms, 3),
            "model_id": d.model_id,
            "head_id": d.head_id,
            "text_masked": rec.text_masked,
            "text_sha256": rec.text_sha256,
            "escalation_id": None,
        }

    def append_decision(self, rec: DecisionRecord) -> int:
        probs = {k: round(float(v), 6) for k, v in rec.decision.probs.items()}
        row = self._record_row(rec, "decision", probs)
        return self._write(lambda c: self._append(c, row))

    def append_response(self, decision_id: int, rec: DecisionRecord, verdict: dict[str, Any]) -> int:
        """The verdict on the answer beside the verdict on the request: a chained row of kind "response"
        that refers to the request's decision row (reason response_flagged when the answer was stopped)."""
        row = {**self._record_row(rec, "response", verdict), "ref_id": decision_id}
        return self._write(lambda c: self._append(c, row))

    def decision_for_event(self, platform: str, event_id: str) -> tuple[int, Decision] | None:
        rows = self._read(
            "SELECT * FROM decisions WHERE kind = 'decision' AND platform = ? AND event_id = ? ORDER BY id LIMIT 1",
            (platform, event_id),
        )
        return (int(rows[0]["id"]), _decision_from_row(rows[0])) if rows else None

    def last_refusal(self, platform: str, channel: str, thread: str, user: str) -> int | None:
        rows = self._read(
            "SELECT id FROM decisions WHERE kind IN ('decision', 'response') AND verdict = 'REFUSE' AND platform = ? "
            'AND channel = ? AND thread = ? AND "user" = ? ORDER BY id DESC LIMIT 1',
            (platform, channel, thread, user),
        )
        return int(rows[0]["id"]) if rows else None

    def last_lang(self, platform: str, user: str) -> str | None:
        """The language of the user's last request on the platform (None when they never asked anything)."""
        rows = self._read(
            "SELECT lang FROM decisions WHERE kind = 'decision' AND platform = ? AND \"user\" = ? "
            "ORDER BY id DESC LIMIT 1",
            (platform, user),
        )
        return str(rows[0]["lang"]) if rows and rows[0]["lang"] else None

    def decision_row(self, decision_id: int) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM decisions WHERE id = ?", (decision_id,))
        return rows[0] if rows else None

    def chain_head(self) -> tuple[int, str]:
        """(row count, the last row's MAC); (0, GENESIS) for an empty chain."""
        rows = self._read("SELECT id, hash FROM decisions ORDER BY id DESC LIMIT 1")
        return (int(rows[0]["id"]), str(rows[0]["hash"])) if rows else (0, GENESIS)

    def chain_value(self, row_id: int) -> str | None:
        """The MAC stored for row `row_id` (None when there is no such row)."""
        rows = self._read("SELECT hash FROM decisions WHERE id = ?", (row_id,))
        return str(rows[0]["hash"]) if rows else None

    def verify_chain(self) -> VerifyResult:
        """Walk the chain: ids without gaps, each prev_hash the previous MAC, each MAC its content
        (keyed rows with SO8T_AUDIT_KEY; an unkeyed row after a keyed one is a rewrite); then the
        escalations table against the chained escalation rows."""
        prev = GENESIS
        n = keyed = 0
        expected_id = 1
        db = self.database
        with db._lock:
            try:
                cur = db.conn.execute(f"SELECT {_columns(STORED_FIELDS)} FROM decisions ORDER BY id")
                for values in cur.fetchall():
                    row = dict(zip(STORED_FIELDS, values, strict=True))
                    n += 1
                    rid = int(row["id"])
                    if rid != expected_id:
                        return VerifyResult(False, n, expected_id, f"row {expected_id} is missing", keyed)
                    if row["prev_hash"] != prev:
                        return VerifyResult(False, n, rid, "prev_hash does not match the previous row", keyed)
                    if (row["chain_v"] or CHAIN_V1) == CHAIN_V1 and keyed:
                        return VerifyResult(
                            False, n, rid, "an unkeyed row after keyed rows (the chain was rewritten)", keyed
                        )
                    if row["chain_v"] == CHAIN_V2:
                        if self.audit_key is None:
                            return VerifyResult(
                                False, n, rid, f"the row is keyed: set {AUDIT_KEY_ENV} to verify it", keyed
                            )
                        keyed += 1
                    if row_hash(row, self.audit_key) != row["hash"]:
                        what = "its MAC (edited, or another SO8T_AUDIT_KEY)" if row["chain_v"] else "its hash"
                        return VerifyResult(False, n, rid, f"content does not match {what}", keyed)
                    prev = row["hash"]
                    expected_id += 1
            except db.errors as exc:
                raise StoreError(f"audit store read failed ({db.label}): {one_line(exc)}") from None
        problem = self._escalations_match_chain()
        if problem is not None:
            return VerifyResult(False, n, problem[0], problem[1], keyed, prev)
        return VerifyResult(True, n, keyed=keyed, head=prev)

    def _escalations_match_chain(self) -> tuple[int, str] | None:
        """(chain row, why) for the first escalation whose table row disagrees with its chained rows."""
        chained: dict[int, dict[str, dict[str, Any]]] = {}
        for r in self._read(
            "SELECT * FROM decisions WHERE kind IN ('escalation', 'resolution') AND escalation_id IS NOT NULL "
            "ORDER BY id"
        ):
            chained.setdefault(int(r["escalation_id"]), {}).setdefault(str(r["kind"]), r)
        escs = {int(e["id"]): e for e in self._read("SELECT * FROM escalations")}
        for esc_id, kinds in sorted(chained.items()):
            first = min(int(r["id"]) for r in kinds.values())
            esc = escs.get(esc_id)
            if esc is None:
                return first, f"escalation {esc_id} is chained but missing from the escalations table"
            opened = kinds.get("escalation")
            if opened is not None and (
                opened["category"] != esc["domain"]
                or opened["reason"] != esc["kind"]
                or opened["ref_id"] != esc["decision_id"]
                or opened["ts"] != esc["opened_at"]
                or opened["text_masked"] != esc["text_masked"]
            ):
                return int(opened["id"]), f"escalation {esc_id} differs from its chained opening"
            resolved = kinds.get("resolution")
            if resolved is None:
                if esc["status"] != "open":
                    return first, f"escalation {esc_id} is {esc['status']} but no resolution is chained"
                continue
            if (
                esc["status"] != "resolved"
                or resolved["user"] != esc["reviewer"]
                or resolved["verdict"] != str(esc["action"] or "").upper()
                or resolved["ts"] != esc["resolved_at"]
                or resolved["text_masked"] != esc["resolution_text"]
            ):
                return int(resolved["id"]), f"escalation {esc_id} differs from its chained resolution"
        for esc_id, esc in sorted(escs.items()):
            if esc_id not in chained and esc["status"] != "open":
                return 0, f"escalation {esc_id} is {esc['status']} but no resolution is chained"
        return None

    def export(self, since: float | None = None, until: float | None = None) -> Iterator[dict[str, Any]]:
        where, params = ts_range(since, until)
        for row in self._read(f"SELECT * FROM decisions {where} ORDER BY id", params):
            row = dict(row)
            row["probs"] = json.loads(row["probs"]) if row.get("probs") else None
            yield row


def _decision_from_row(row: dict[str, Any]) -> Decision:
    probs = json.loads(row["probs"]) if row.get("probs") else {}
    verdict = row["verdict"]
    return Decision(
        decision=verdict,
        category=row["category"] or "none",
        confidence=float(row["confidence"] or 0.0),
        probs=probs,
        rationale=row["rationale"] or "",
        human_required=verdict == "ESCALATE",
        lang=row["lang"] or "en",
        reason=row["reason"] or "model",
        domain=None,
        model_id=row["model_id"] or "",
        head_id=row["head_id"] or "",
    )
