"""The audit store: one SQLite file (WAL) with the events ledger, hash-chained decisions, escalations.

- `events` makes delivery exactly-once: an event is stored as received before any work, and
  finished (its raw text dropped) only when every reply for it has been posted.
- `decisions` is append-only (triggers refuse UPDATE/DELETE) and chained: each row's MAC covers its
  content and the previous row's MAC, so `so8t audit verify` finds the first edit. Rows are keyed
  (chain v2: HMAC-SHA256 with SO8T_AUDIT_KEY, which never enters the file) when the key is set, else
  (and for rows written before v3 of the schema) a plain SHA-256 (chain v1). Besides the decisions,
  the chain holds the escalation lifecycle (kind `escalation` when one opens, `resolution` when a
  reviewer resolves it). It keeps text with PII masked plus a keyed hash of the original, never the
  original. Signed checkpoints of its head are kept outside the file (bot/checkpoint.py).
- `escalations` holds the human-review lifecycle; the original request is held only encrypted
  (Fernet, SO8T_DATA_KEY) while the case is open and within retention, else only masked.

Schema changes are numbered migrations tracked in PRAGMA user_version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from bot.errors import StoreError
from bot.events import Escalation, Resolution
from runtime.base import Decision

T = TypeVar("T")
GENESIS = "0" * 64
AUDIT_KEY_ENV = "SO8T_AUDIT_KEY"
DATA_KEY_ENV = "SO8T_DATA_KEY"
MIN_AUDIT_KEY_CHARS = 16
CHAIN_V1 = 1  # unkeyed SHA-256 over CHAIN_FIELDS (every row before schema v3; rows written without a key)
CHAIN_V2 = 2  # HMAC-SHA256 with SO8T_AUDIT_KEY over CHAIN_V2_FIELDS
log = logging.getLogger("so8t.audit")

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


def _migration_1(db: Database) -> None:
    db.table("events").create(
        {
            "seq": int,
            "platform": str,
            "event_id": str,
            "kind": str,
            "payload": str,
            "state": str,
            "received_at": float,
            "done_at": float,
        },
        pk="seq",
        not_null={"platform", "event_id", "kind", "state", "received_at"},
    )
    db.execute("CREATE UNIQUE INDEX events_key ON events(platform, event_id)")
    db.execute("CREATE INDEX events_state ON events(state)")
    db.table("decisions").create(
        {
            "id": int,
            "kind": str,
            "ts": float,
            "platform": str,
            "channel": str,
            "thread": str,
            "user": str,
            "event_id": str,
            "lang": str,
            "verdict": str,
            "category": str,
            "confidence": float,
            "probs": str,
            "rationale": str,
            "reason": str,
            "latency_ms": float,
            "model_id": str,
            "head_id": str,
            "text_masked": str,
            "text_sha256": str,
            "escalation_id": int,
            "prev_hash": str,
            "hash": str,
        },
        pk="id",
        not_null={"kind", "ts", "prev_hash", "hash"},
    )
    db.execute("CREATE INDEX decisions_ts ON decisions(ts)")
    db.execute("CREATE INDEX decisions_event ON decisions(platform, event_id)")
    db.execute(
        "CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions "
        "BEGIN SELECT RAISE(ABORT, 'decisions is append-only'); END"
    )
    db.execute(
        "CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions "
        "BEGIN SELECT RAISE(ABORT, 'decisions is append-only'); END"
    )
    db.table("escalations").create(
        {
            "id": int,
            "decision_id": int,
            "kind": str,
            "domain": str,
            "platform": str,
            "channel": str,
            "thread": str,
            "user": str,
            "text_masked": str,
            "request_text": str,
            "lang": str,
            "verdict": str,
            "category": str,
            "confidence": float,
            "rationale": str,
            "status": str,
            "opened_at": float,
            "deadline": float,
            "reminded_at": float,
            "card_channel": str,
            "card_ref": str,
            "resolved_at": float,
            "reviewer": str,
            "action": str,
            "resolution_text": str,
            "resolution_event_id": str,
        },
        pk="id",
        not_null={"decision_id", "kind", "domain", "status", "opened_at", "deadline"},
    )
    db.execute("CREATE UNIQUE INDEX escalations_key ON escalations(decision_id, kind)")
    db.execute("CREATE INDEX escalations_status ON escalations(status)")


def _migration_2(db: Database) -> None:
    """Scheduled jobs (runs, per-job state, lock rows) and model changes (promotions, rejections, rollbacks)."""
    db.table("job_runs").create(
        {
            "id": int,
            "job": str,
            "scheduled_for": float,
            "trigger": str,
            "owner": str,
            "started_at": float,
            "ended_at": float,
            "outcome": str,
            "detail": str,
        },
        pk="id",
        not_null={"job", "trigger", "started_at", "outcome"},
    )
    db.execute("CREATE INDEX job_runs_job ON job_runs(job, id)")
    db.table("job_state").create(
        {"job": str, "last_scheduled_for": float, "watermark": float}, pk="job", not_null={"job"}
    )
    db.table("job_locks").create(
        {"job": str, "owner": str, "acquired_at": float, "expires_at": float},
        pk="job",
        not_null={"job", "owner", "acquired_at", "expires_at"},
    )
    db.table("model_changes").create(
        {
            "id": int,
            "ts": float,
            "action": str,
            "candidate": str,
            "current": str,
            "reason": str,
            "metrics": str,
        },
        pk="id",
        not_null={"ts", "action"},
    )


def _migration_3(db: Database) -> None:
    """Keyed chain (chain_v, ref_id on decisions), the encrypted original of an escalation's request,
    and no raw text left behind: what older versions kept in clear becomes its masked form."""
    db.execute("ALTER TABLE decisions ADD COLUMN ref_id INTEGER")
    db.execute("ALTER TABLE decisions ADD COLUMN chain_v INTEGER")
    db.execute("ALTER TABLE escalations ADD COLUMN request_enc TEXT")
    rows = db.execute("SELECT id, request_text, resolution_text FROM escalations").fetchall()
    for esc_id, request, resolution in rows:
        db.execute(
            "UPDATE escalations SET request_text = ?, resolution_text = ? WHERE id = ?",
            (_mask(request) if request else request, _mask(resolution) if resolution else resolution, esc_id),
        )


def _migration_4(db: Database) -> None:
    """What happened to each ALLOW answer (the answer guard's outcome, or the response head's stop): counts
    for the weekly report; no text."""
    db.table("answers").create(
        {"decision_id": int, "ts": float, "outcome": str}, pk="decision_id", not_null={"ts", "outcome"}
    )
    db.execute("CREATE INDEX answers_ts ON answers(ts)")


MIGRATIONS: tuple[Callable[[Database], None], ...] = (_migration_1, _migration_2, _migration_3, _migration_4)
SCHEMA_VERSION = len(MIGRATIONS)


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


def audit_key_from_env(env: Mapping[str, str] | None = None) -> bytes | None:
    """SO8T_AUDIT_KEY as bytes, None when unset; StoreError (one line) when too short to be a key."""
    value = (os.environ if env is None else env).get(AUDIT_KEY_ENV, "").strip()
    if not value:
        return None
    if len(value) < MIN_AUDIT_KEY_CHARS:
        raise StoreError(
            f"{AUDIT_KEY_ENV} is too short ({len(value)} characters; use at least {MIN_AUDIT_KEY_CHARS}, "
            'e.g. python -c "import secrets; print(secrets.token_hex(32))")'
        )
    return value.encode("utf-8")


class DataCipher:
    """Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with SO8T_DATA_KEY."""

    def __init__(self, key: str) -> None:
        try:
            from cryptography.fernet import Fernet
        except ImportError:  # pragma: no cover - a pinned dependency
            raise StoreError(f"{DATA_KEY_ENV} is set but the cryptography package is not installed") from None
        try:
            self._fernet = Fernet(key.strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise StoreError(
                f"{DATA_KEY_ENV} is not a Fernet key (32 url-safe base64 bytes; make one with "
                'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
            ) from None

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str | None:
        """None when the token was made with another key (or altered)."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            return None


def data_cipher_from_env(env: Mapping[str, str] | None = None) -> DataCipher | None:
    value = (os.environ if env is None else env).get(DATA_KEY_ENV, "").strip()
    return DataCipher(value) if value else None


class _FromEnv:
    """The default of AuditStore's keys: read them from the environment."""


FROM_ENV = _FromEnv()


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


def _one_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class AuditStore:
    """Thread-safe (one lock) access to the SQLite file; every failure becomes a one-line StoreError."""

    def __init__(
        self,
        path: str | Path,
        audit_key: bytes | None | _FromEnv = FROM_ENV,
        data_key: DataCipher | None | _FromEnv = FROM_ENV,
    ) -> None:
        """`audit_key` (SO8T_AUDIT_KEY) keys the chain; `data_key` (SO8T_DATA_KEY) encrypts the
        originals reviewers may need. Both default to the environment and never enter the file."""
        self.path = Path(path)
        self._lock = threading.RLock()
        self.last_write_error: str | None = None
        self.audit_key: bytes | None = audit_key_from_env() if isinstance(audit_key, _FromEnv) else audit_key
        self.cipher: DataCipher | None = data_cipher_from_env() if isinstance(data_key, _FromEnv) else data_key
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=5.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the audit database {self.path}: {_one_line(exc)}") from None
        self.conn = conn
        self.db = Database(conn)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"the audit database {self.path} cannot use WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across process crashes
            conn.execute("PRAGMA secure_delete = ON")  # text set to NULL (raw payloads) is zeroed, not left behind
            self._migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            msg = _one_line(exc)
            if "not a database" in msg or "malformed" in msg:
                raise StoreError(
                    f"the audit database {self.path} is corrupt ({msg}); move it aside or restore a backup"
                ) from None
            raise StoreError(f"cannot use the audit database {self.path}: {msg}") from None

    # ------------------------------------------------------------------ plumbing
    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the audit database {self.path} has schema v{version}, newer than this so8t (v{SCHEMA_VERSION})"
            )
        for number in range(version, SCHEMA_VERSION):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[number](self.db)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn in one IMMEDIATE transaction; SQLite errors become StoreError (one line)."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(self.conn)
                    self.conn.execute("COMMIT")
                except BaseException:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                self.last_write_error = _one_line(exc)
                raise StoreError(f"audit store write failed ({self.path}): {_one_line(exc)}") from None
            self.last_write_error = None
            return result

    def _read(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            try:
                return list(self.db.query(sql, params))
            except sqlite3.Error as exc:
                raise StoreError(f"audit store read failed ({self.path}): {_one_line(exc)}") from None

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def check_writable(self) -> str | None:
        """None when a write lock can be taken now; else one line why not."""
        with self._lock:
            try:
                self.conn.execute("PRAGMA busy_timeout = 200")
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                return _one_line(exc)
            finally:
                self.conn.execute("PRAGMA busy_timeout = 5000")
        return self.last_write_error

    # ------------------------------------------------------------------ events (exactly once)
    def record_event(self, platform: str, event_id: str, kind: str, payload: dict[str, Any], at: float) -> bool:
        """Store an event as received; False when (platform, event_id) was seen before."""

        def fn(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "INSERT OR IGNORE INTO events(platform, event_id, kind, payload, state, received_at) "
                "VALUES (?, ?, ?, ?, 'received', ?)",
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

    # ------------------------------------------------------------------ decisions (hash chain)
    def _append(self, c: sqlite3.Connection, row: dict[str, Any]) -> int:
        """Chain one row: keyed (v2) when SO8T_AUDIT_KEY is set, else unkeyed (v1)."""
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
            f"INSERT INTO decisions({', '.join(STORED_FIELDS)}) VALUES ({', '.join('?' for _ in STORED_FIELDS)})",
            [row.get(k) for k in STORED_FIELDS],
        )
        return int(row["id"])

    def text_hash(self, text: str) -> str:
        """What the audit keeps of an original text: HMAC-SHA256 with SO8T_AUDIT_KEY when set (a
        guessed phone number cannot be confirmed against it without the key), else SHA-256."""
        if self.audit_key is None:
            return _sha(text)
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

    def record_answer(self, decision_id: int, outcome: str, ts: float) -> None:
        """The answer guard's outcome for an ALLOW answer (ok, loop_cut, shortened, fallback_*), or
        response_flagged; one row per decision (a replay after a crash overwrites it)."""
        self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO answers(decision_id, ts, outcome) VALUES (?, ?, ?)", (decision_id, ts, outcome)
            )
        )

    def answer_outcomes(self, since: float | None = None, until: float | None = None) -> dict[str, int]:
        where, params = _range(since, until)
        rows = self._read(f"SELECT outcome AS k, count(*) AS n FROM answers {where} GROUP BY outcome", params)
        return {str(r["k"]): int(r["n"]) for r in rows}

    def response_counts(self, since: float | None = None, until: float | None = None) -> dict[str, int]:
        """Answers stopped by the response head, per resulting verdict (REFUSE / ESCALATE)."""
        where, params = _range(since, until)
        where = (where + " AND" if where else "WHERE") + " kind = 'response'"
        rows = self._read(f"SELECT verdict AS k, count(*) AS n FROM decisions {where} GROUP BY verdict", params)
        return {str(r["k"]): int(r["n"]) for r in rows}

    def decision_for_event(self, platform: str, event_id: str) -> tuple[int, Decision] | None:
        rows = self._read(
            "SELECT * FROM decisions WHERE kind = 'decision' AND platform = ? AND event_id = ? ORDER BY id LIMIT 1",
            (platform, event_id),
        )
        return (int(rows[0]["id"]), _decision_from_row(rows[0])) if rows else None

    def last_refusal(self, platform: str, channel: str, thread: str, user: str) -> int | None:
        rows = self._read(
            "SELECT id FROM decisions WHERE kind IN ('decision', 'response') AND verdict = 'REFUSE' AND platform = ? "
            "AND channel = ? AND thread = ? AND user = ? ORDER BY id DESC LIMIT 1",
            (platform, channel, thread, user),
        )
        return int(rows[0]["id"]) if rows else None

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
        with self._lock:
            try:
                cur = self.conn.execute(f"SELECT {', '.join(STORED_FIELDS)} FROM decisions ORDER BY id")
                for values in cur:
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
            except sqlite3.Error as exc:
                raise StoreError(f"audit store read failed ({self.path}): {_one_line(exc)}") from None
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
        where, params = _range(since, until)
        for row in self._read(f"SELECT * FROM decisions {where} ORDER BY id", params):
            row = dict(row)
            row["probs"] = json.loads(row["probs"]) if row.get("probs") else None
            yield row

    def counts(self, since: float | None = None, until: float | None = None) -> dict[str, dict[str, int]]:
        where, params = _range(since, until)
        where = (where + " AND" if where else "WHERE") + " kind = 'decision'"
        out: dict[str, dict[str, int]] = {}
        for col in ("verdict", "category", "lang", "reason"):
            rows = self._read(
                f"SELECT {col} AS k, count(*) AS n FROM decisions {where} GROUP BY {col} ORDER BY k", params
            )
            out[col] = {str(r["k"]): int(r["n"]) for r in rows}
        return out

    def latencies_ms(self, since: float | None = None, until: float | None = None) -> list[float]:
        where, params = _range(since, until)
        where = (where + " AND" if where else "WHERE") + " kind = 'decision'"
        return [float(r["latency_ms"] or 0.0) for r in self._read(f"SELECT latency_ms FROM decisions {where}", params)]

    # ------------------------------------------------------------------ escalations
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

        def fn(c: sqlite3.Connection) -> int:
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
                "request_text": _mask(request_text),  # never the original in clear
                "request_enc": self.cipher.encrypt(request_text) if self.cipher is not None else None,
                "opened_at": opened_at,
                "deadline": deadline,
            }
            cur = c.execute(
                f"INSERT INTO escalations({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                list(cols.values()),
            )
            esc_id = int(cur.lastrowid or 0)
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

        def fn(c: sqlite3.Connection) -> bool:
            row = c.execute(
                "SELECT status, resolution_event_id, decision_id, platform, channel, thread, user, lang, "
                "domain, text_masked FROM escalations WHERE id = ?",
                (res.escalation_id,),
            ).fetchone()
            if row is None:
                raise KeyError(res.escalation_id)
            if row[0] == "resolved":
                return bool(res.event_id) and row[1] == res.event_id
            c.execute(
                "UPDATE escalations SET status = 'resolved', resolved_at = ?, reviewer = ?, action = ?, "
                "resolution_text = ?, resolution_event_id = ? WHERE id = ?",
                (res.at, res.reviewer, res.action, _mask(res.text), res.event_id, res.escalation_id),
            )
            self._append(
                c,
                {
                    "kind": "resolution",
                    "ts": res.at,
                    "platform": row[3],
                    "channel": row[4],
                    "thread": row[5],
                    "user": res.reviewer,
                    "event_id": res.event_id,
                    "lang": row[7],
                    "verdict": res.action.upper(),
                    "category": row[8],
                    "confidence": None,
                    "probs": None,
                    "rationale": None,
                    "reason": "reviewer",
                    "latency_ms": None,
                    "model_id": None,
                    "head_id": None,
                    "text_masked": _mask(res.text),
                    "text_sha256": self.text_hash(res.text),
                    "escalation_id": res.escalation_id,
                    "ref_id": row[2],
                },
            )
            return True

        won = self._write(fn)
        esc = self.get_escalation(res.escalation_id)
        assert esc is not None
        if won and esc.resolution is not None and esc.resolution.event_id == res.event_id:
            # the store keeps the reviewer's text masked; the asker is sent the reviewer's own words
            esc = dataclasses.replace(esc, resolution=dataclasses.replace(esc.resolution, text=res.text))
        return esc, won

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

        def fn(c: sqlite3.Connection) -> dict[str, int]:
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

    # ------------------------------------------------------------------ scheduled jobs
    def job_state(self, job: str) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM job_state WHERE job = ?", (job,))
        return rows[0] if rows else None

    def ensure_job_state(self, job: str, baseline: float) -> dict[str, Any]:
        """The job's state row, created with last_scheduled_for = baseline the first time it is seen."""
        self._write(
            lambda c: c.execute(
                "INSERT OR IGNORE INTO job_state(job, last_scheduled_for) VALUES (?, ?)", (job, baseline)
            )
        )
        state = self.job_state(job)
        assert state is not None
        return state

    def acquire_job_lock(self, job: str, owner: str, now: float, ttl_s: float) -> bool:
        """Take the job's lock row unless another owner holds an unexpired one (one transaction)."""

        def fn(c: sqlite3.Connection) -> bool:
            row = c.execute("SELECT owner, expires_at FROM job_locks WHERE job = ?", (job,)).fetchone()
            if row is not None and row[0] != owner and float(row[1]) > now:
                return False
            c.execute(
                "INSERT OR REPLACE INTO job_locks(job, owner, acquired_at, expires_at) VALUES (?, ?, ?, ?)",
                (job, owner, now, now + ttl_s),
            )
            return True

        return self._write(fn)

    def release_job_lock(self, job: str, owner: str) -> None:
        self._write(lambda c: c.execute("DELETE FROM job_locks WHERE job = ? AND owner = ?", (job, owner)))

    def job_lock(self, job: str) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM job_locks WHERE job = ?", (job,))
        return rows[0] if rows else None

    def start_job_run(self, job: str, scheduled_for: float | None, trigger: str, owner: str, at: float) -> int:
        def fn(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "INSERT INTO job_runs(job, scheduled_for, trigger, owner, started_at, outcome) "
                "VALUES (?, ?, ?, ?, ?, 'running')",
                (job, scheduled_for, trigger, owner, at),
            )
            if scheduled_for is not None:
                c.execute(
                    "UPDATE job_state SET last_scheduled_for = max(coalesce(last_scheduled_for, 0), ?) WHERE job = ?",
                    (scheduled_for, job),
                )
            return int(cur.lastrowid or 0)

        return self._write(fn)

    def finish_job_run(
        self, run_id: int, outcome: str, detail: dict[str, Any], at: float, watermark: float | None = None
    ) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE job_runs SET ended_at = ?, outcome = ?, detail = ? WHERE id = ?",
                (at, outcome, json.dumps(detail, ensure_ascii=False, sort_keys=True), run_id),
            )
            if watermark is not None:
                job = c.execute("SELECT job FROM job_runs WHERE id = ?", (run_id,)).fetchone()[0]
                c.execute("UPDATE job_state SET watermark = ? WHERE job = ?", (watermark, job))

        self._write(fn)

    def job_runs(self, job: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        where, params = ("WHERE job = ?", (job, limit)) if job else ("", (limit,))
        rows = self._read(f"SELECT * FROM job_runs {where} ORDER BY id DESC LIMIT ?", params)
        for r in rows:
            r["detail"] = json.loads(r["detail"]) if r.get("detail") else {}
        return rows

    def last_job_runs(self) -> dict[str, dict[str, Any]]:
        """The latest run of every job that ever ran."""
        rows = self._read("SELECT * FROM job_runs WHERE id IN (SELECT max(id) FROM job_runs GROUP BY job) ORDER BY job")
        for r in rows:
            r["detail"] = json.loads(r["detail"]) if r.get("detail") else {}
        return {str(r["job"]): r for r in rows}

    # ------------------------------------------------------------------ model changes
    def record_model_change(
        self, ts: float, action: str, candidate: str, current: str, reason: str, metrics: dict[str, Any]
    ) -> int:
        def fn(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "INSERT INTO model_changes(ts, action, candidate, current, reason, metrics) VALUES (?, ?, ?, ?, ?, ?)",
                (ts, action, candidate, current, reason, json.dumps(metrics, ensure_ascii=False, sort_keys=True)),
            )
            return int(cur.lastrowid or 0)

        return self._write(fn)

    def model_changes(self, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
        where, params = _range(since, until)
        rows = self._read(f"SELECT * FROM model_changes {where} ORDER BY id", params)
        for r in rows:
            r["metrics"] = json.loads(r["metrics"]) if r.get("metrics") else {}
        return rows

    def escalation_counts(self) -> dict[str, int]:
        rows = self._read("SELECT domain, count(*) AS n FROM escalations WHERE status = 'open' GROUP BY domain")
        return {str(r["domain"]): int(r["n"]) for r in rows}


def _mask(text: str) -> str:
    from bot.pii import mask

    return mask(text).text


def _sha(text: str) -> str:
    from bot.pii import sha256_text

    return sha256_text(text)


def _range(since: float | None, until: float | None) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)
    if until is not None:
        clauses.append("ts < ?")
        params.append(until)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


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
