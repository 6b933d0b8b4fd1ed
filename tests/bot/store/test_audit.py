"""The audit store on real SQLite files and (the tests taking `store_target`) on a real PostgreSQL database:
migrations, exactly-once ledger, hash chain, failures."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.events import Resolution
from bot.store import SCHEMA_VERSION, AuditStore, DecisionRecord
from runtime.base import Decision


def _decision(verdict: str = "ALLOW", category: str = "none", lang: str = "en") -> Decision:
    return Decision(
        decision=verdict,
        category=category,
        confidence=0.9,  # type: ignore[arg-type]
        probs={"ALLOW": 0.9, "REFUSE": 0.05, "ESCALATE": 0.05},
        rationale="r",
        human_required=verdict == "ESCALATE",
        lang=lang,
        model_id="m",
        head_id="h",
    )


def _append(store: AuditStore, i: int, verdict: str = "ALLOW", ts: float = 100.0, **kw: str) -> int:
    return store.append_decision(
        DecisionRecord(
            ts=ts + i,
            platform="console",
            channel="general",
            thread=f"t{i}",
            user="alice",
            event_id=f"e{i}",
            decision=_decision(verdict, **kw),
            latency_ms=12.5,
            text_masked=f"text {i}",
            text_sha256="0" * 64,
        )
    )


def test_wal_and_versioned_migrations(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "sub" / "a.db")
    assert store.schema_version() == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"events", "decisions", "escalations"} <= store.table_names()
    store.close()
    again = AuditStore(tmp_path / "sub" / "a.db")  # reopening does not re-run migrations
    assert again.schema_version() == SCHEMA_VERSION
    again.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    again.close()
    with pytest.raises(StoreError, match="newer than this so8t"):
        AuditStore(tmp_path / "sub" / "a.db")


def test_corrupt_database_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError) as err:
        AuditStore(bad)
    assert "is corrupt" in str(err.value) and str(bad) in str(err.value) and "\n" not in str(err.value)


def _drop_trigger(store: AuditStore, name: str) -> None:
    store.sql(f"DROP TRIGGER {name}" + (" ON decisions" if store.is_postgres else ""))


def test_events_dedupe_and_pending(store_target: str) -> None:
    store = AuditStore(store_target, lease_s=0.0)
    assert store.record_event("console", "e1", "message", {"text": "hi", "event_id": "e1"}, 1.0)
    assert not store.record_event("console", "e1", "message", {"text": "hi"}, 2.0)
    assert store.record_event("slack", "e1", "message", {"text": "other platform"}, 2.0)
    # after a crash: the next process (on PostgreSQL a new owner, once the old claims' lease ran out)
    restarted = AuditStore(store_target, lease_s=0.0)
    assert [k for k, _ in restarted.pending_events()] == ["message", "message"]
    store.finish_event("console", "e1", "done", 3.0)
    assert store.event_state("console", "e1") == "done"
    assert len(AuditStore(store_target, lease_s=0.0).pending_events()) == 1
    assert store.sql("SELECT payload FROM events WHERE platform='console'") == [(None,)]


def test_chain_verifies_and_names_the_first_broken_row(store_target: str) -> None:
    store = AuditStore(store_target)
    for i in range(5):
        _append(store, i)
    assert store.verify_chain().ok and store.verify_chain().rows == 5
    with pytest.raises(StoreError, match="append-only"):
        store.sql("UPDATE decisions SET verdict = 'REFUSE' WHERE id = 3")
    with pytest.raises(StoreError, match="append-only"):
        store.sql("DELETE FROM decisions WHERE id = 3")
    # someone with file access drops the trigger and edits a row: verify finds it
    _drop_trigger(store, "decisions_no_update")
    store.sql("UPDATE decisions SET text_masked = 'edited' WHERE id = 3")
    result = store.verify_chain()
    assert not result.ok and result.first_broken == 3 and "hash" in result.reason


def test_chain_detects_a_deleted_row(store_target: str) -> None:
    store = AuditStore(store_target)
    for i in range(4):
        _append(store, i)
    _drop_trigger(store, "decisions_no_delete")
    store.sql("DELETE FROM decisions WHERE id = 2")
    result = store.verify_chain()
    assert not result.ok and result.first_broken == 2


def test_counts_export_and_ranges(store_target: str) -> None:
    store = AuditStore(store_target)
    _append(store, 0, "ALLOW")
    _append(store, 1, "REFUSE", category="security")
    _append(store, 2, "ESCALATE", category="hr", lang="ja")
    counts = store.counts()
    assert counts["verdict"] == {"ALLOW": 1, "ESCALATE": 1, "REFUSE": 1}
    assert counts["lang"] == {"en": 2, "ja": 1}
    assert store.counts(since=101.0)["verdict"] == {"ESCALATE": 1, "REFUSE": 1}
    assert store.counts(until=101.0)["verdict"] == {"ALLOW": 1}
    rows = list(store.export(since=102.0))
    assert len(rows) == 1 and rows[0]["probs"]["ALLOW"] == 0.9 and rows[0]["hash"]


def test_escalation_open_is_idempotent_and_resolve_once(store_target: str) -> None:
    store = AuditStore(store_target)
    did = _append(store, 0, "ESCALATE", category="hr")
    base = {
        "platform": "console",
        "channel": "general",
        "thread": "t0",
        "user": "alice",
        "text_masked": "x",
        "lang": "en",
        "verdict": "ESCALATE",
        "category": "hr",
        "confidence": 0.6,
        "rationale": "r",
    }
    e1 = store.open_escalation(did, "escalate", "hr", base, "raw text", 10.0, 20.0)
    e2 = store.open_escalation(did, "escalate", "hr", base, "raw text", 11.0, 21.0)
    assert e1.id == e2.id and e1.status == "open"
    assert store.escalation_counts() == {"hr": 1}
    assert [e.id for e in store.due_reminders(25.0)] == [e1.id] and store.due_reminders(15.0) == []
    esc, won = store.resolve_escalation(Resolution(e1.id, "approve", "rev", "", 30.0, "ev1"))
    assert won and esc.status == "resolved" and esc.resolution and esc.resolution.reviewer == "rev"
    _, replay = store.resolve_escalation(Resolution(e1.id, "approve", "rev", "", 31.0, "ev1"))
    assert replay  # the same event finishing after a crash
    _, other = store.resolve_escalation(Resolution(e1.id, "decline", "x", "", 32.0, "ev2"))
    assert not other
    # the decision, the escalation opening and its resolution (a replay chains nothing)
    assert store.verify_chain().ok and store.verify_chain().rows == 3
    assert store.counts()["verdict"] == {"ESCALATE": 1}  # openings and resolutions are chained, not counted


def test_write_failure_is_a_store_error(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "a.db")
    other = sqlite3.connect(str(tmp_path / "a.db"), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    store.conn.execute("PRAGMA busy_timeout = 50")
    try:
        with pytest.raises(StoreError, match="database is locked"):
            store.record_event("console", "e1", "message", {}, 1.0)
        assert store.check_writable() is not None
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "locked" in str(store.check_writable())  # stays reported until a write succeeds again
    assert store.record_event("console", "e1", "message", {}, 1.0)
    assert store.check_writable() is None
