"""Attacks on the audit chain by someone who can write the SQLite file but does not hold SO8T_AUDIT_KEY.

Each attack passed `verify_chain` on the unkeyed chain (before schema v3); these tests show it is
caught now: recomputed hashes (a), deleted last rows (b), a forged checkpoint (c), an edited
escalation (d). Real SQLite files, no model.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_checkpoints,
    read_checkpoints,
    signature,
    write_checkpoint,
)
from bot.events import Resolution
from bot.store import (
    CHAIN_V2,
    STORED_FIELDS,
    AuditStore,
    DataCipher,
    DecisionRecord,
    KeyMissing,
    StoreError,
    row_hash,
)
from cli.main import main
from runtime.base import Decision

KEY = b"k" * 32
KEY_TEXT = "k" * 32


def _decision(verdict: str = "ALLOW") -> Decision:
    return Decision(
        decision=verdict,
        category="none" if verdict == "ALLOW" else "hr",
        confidence=0.9,  # type: ignore[arg-type]
        probs={"ALLOW": 0.9, "REFUSE": 0.05, "ESCALATE": 0.05},
        rationale="r",
        human_required=verdict == "ESCALATE",
        lang="en",
        model_id="m",
        head_id="h",
    )


def _append(store: AuditStore, i: int, verdict: str = "ALLOW") -> int:
    return store.append_decision(
        DecisionRecord(
            ts=100.0 + i,
            platform="console",
            channel="general",
            thread=f"t{i}",
            user="alice",
            event_id=f"e{i}",
            decision=_decision(verdict),
            latency_ms=1.0,
            text_masked=f"text {i}",
            text_sha256=store.text_hash(f"text {i}"),
        )
    )


def _store(path: Path, rows: int = 5, key: bytes | None = KEY) -> AuditStore:
    store = AuditStore(path, audit_key=key, data_key=None)
    for i in range(rows):
        _append(store, i)
    return store


def _attacker(path: Path) -> sqlite3.Connection:
    """What someone with the file does first: open it and drop the append-only triggers."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("DROP TRIGGER decisions_no_update")
    conn.execute("DROP TRIGGER decisions_no_delete")
    return conn


def _rechain(conn: sqlite3.Connection, start: int, downgrade: bool = False) -> None:
    """Recompute the unkeyed hashes from row `start` on (the pre-v3 attack), optionally marking the
    rows unkeyed (chain v1) so that their hashes check without the key."""
    cols = ", ".join(STORED_FIELDS)
    prev = conn.execute("SELECT hash FROM decisions WHERE id = ?", (start - 1,)).fetchone()
    prev_hash = prev[0] if prev else "0" * 64
    for values in conn.execute(f"SELECT {cols} FROM decisions WHERE id >= ? ORDER BY id", (start,)).fetchall():
        row = dict(zip(STORED_FIELDS, values, strict=True))
        row["prev_hash"] = prev_hash
        if downgrade:
            row["chain_v"] = None
        h = row_hash({**row, "chain_v": None})  # the attacker has no key: an unkeyed SHA-256
        conn.execute(
            "UPDATE decisions SET prev_hash = ?, hash = ?, chain_v = ? WHERE id = ?",
            (prev_hash, h, row["chain_v"], row["id"]),
        )
        prev_hash = h


# ------------------------------------------------------------------------------------ (a) recomputation
def test_a_edit_and_recompute_is_caught_by_the_key(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = _store(path)
    assert store.verify_chain().ok and store.verify_chain().keyed == 5
    conn = _attacker(path)
    conn.execute("UPDATE decisions SET verdict = 'REFUSE' WHERE id = 3")
    _rechain(conn, 3)
    result = store.verify_chain()
    assert not result.ok and result.first_broken == 3 and "MAC" in result.reason
    # the same rows marked unkeyed so the SHA-256 checks: an unkeyed row after keyed ones
    _rechain(conn, 3, downgrade=True)
    result = store.verify_chain()
    assert not result.ok and result.first_broken == 3 and "unkeyed row after keyed rows" in result.reason


def test_a_whole_chain_rewritten_unkeyed_is_caught_by_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = _store(path)
    cps = tmp_path / "cp.jsonl"
    write_checkpoint(store, cps, 200.0)
    conn = _attacker(path)
    conn.execute("UPDATE decisions SET verdict = 'REFUSE' WHERE id = 1")
    _rechain(conn, 1, downgrade=True)  # looks like a store from before the key: verifies by itself
    assert store.verify_chain().ok and store.verify_chain().keyed == 0
    problem = check_checkpoints(store, read_checkpoints(cps, KEY))
    assert problem is not None and "row 5 no longer has the MAC" in problem


def test_a_keyed_chain_needs_the_key(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    _store(path, 2).close()
    keyless = AuditStore(path, audit_key=None, data_key=None)
    result = keyless.verify_chain()
    assert not result.ok and "set SO8T_AUDIT_KEY" in result.reason
    with pytest.raises(KeyMissing):
        _append(keyless, 9)
    wrong = AuditStore(path, audit_key=b"w" * 32, data_key=None)
    assert "another SO8T_AUDIT_KEY" in wrong.verify_chain().reason


def test_old_unkeyed_rows_still_verify_and_the_key_takes_over(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    _store(path, 3, key=None).close()  # a store written before the key was set
    store = AuditStore(path, audit_key=KEY, data_key=None)
    _append(store, 3)
    result = store.verify_chain()
    assert result.ok and result.rows == 4 and result.keyed == 1
    rows = store.conn.execute("SELECT chain_v FROM decisions ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [None, None, None, CHAIN_V2]


def test_text_hash_is_keyed(tmp_path: Path) -> None:
    import hashlib

    keyed = AuditStore(tmp_path / "a.db", audit_key=KEY, data_key=None)
    plain = AuditStore(tmp_path / "b.db", audit_key=None, data_key=None)
    sha = hashlib.sha256(b"090-1234-5678").hexdigest()
    assert plain.text_hash("090-1234-5678") == sha
    assert keyed.text_hash("090-1234-5678") != sha and len(keyed.text_hash("x")) == 64


def test_a_short_key_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SO8T_AUDIT_KEY", "short")
    with pytest.raises(StoreError, match="too short"):
        AuditStore(tmp_path / "a.db")
    monkeypatch.delenv("SO8T_AUDIT_KEY")
    monkeypatch.setenv("SO8T_DATA_KEY", "not-a-fernet-key")
    with pytest.raises(StoreError, match="not a Fernet key"):
        AuditStore(tmp_path / "a.db")


# ------------------------------------------------------------------------------------ (b) truncation
def test_b_deleting_the_last_rows_is_caught_by_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = _store(path)
    cps = tmp_path / "cp.jsonl"
    write_checkpoint(store, cps, 200.0)
    conn = _attacker(path)
    conn.execute("DELETE FROM decisions WHERE id > 3")
    assert store.verify_chain().ok  # what is left is a valid chain
    problem = check_checkpoints(store, read_checkpoints(cps, KEY))
    assert problem is not None and "3 row(s), fewer than the 5 checkpointed" in problem


def test_b_cli_checkpoint_and_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SO8T_DB", raising=False)
    monkeypatch.delenv("SO8T_CONFIG", raising=False)
    monkeypatch.setenv("SO8T_AUDIT_KEY", KEY_TEXT)
    path = tmp_path / "so8t.db"
    _store(path).close()
    r = CliRunner().invoke(main, ["audit", "checkpoint", "--db", str(path)])
    assert r.exit_code == 0, r.output
    cps = tmp_path / "var" / "audit-checkpoints.jsonl"  # the default file
    assert "5 row(s)" in r.output and json.loads(cps.read_text())["rows"] == 5
    r = CliRunner().invoke(main, ["audit", "verify", "--db", str(path), "--checkpoint", str(cps)])
    assert r.exit_code == 0 and "intact: 5 row(s)" in r.output and "holds the checkpoints" in r.output
    _attacker(path).execute("DELETE FROM decisions WHERE id = 5")
    r = CliRunner().invoke(main, ["audit", "verify", "--db", str(path), "--checkpoint", str(cps)])
    assert r.exit_code == 1 and "fewer than the 5 checkpointed" in r.output and "Traceback" not in r.output
    monkeypatch.delenv("SO8T_AUDIT_KEY")
    r = CliRunner().invoke(main, ["audit", "checkpoint", "--db", str(path)])
    assert r.exit_code != 0 and "SO8T_AUDIT_KEY is not set" in r.output


def test_b_no_checkpoint_of_a_broken_chain(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = _store(path)
    _attacker(path).execute("UPDATE decisions SET verdict = 'REFUSE' WHERE id = 2")
    with pytest.raises(CheckpointError, match="broken at row 2"):
        write_checkpoint(store, tmp_path / "cp.jsonl", 1.0)


# ------------------------------------------------------------------------------------ (c) forgery
def test_c_forged_or_altered_checkpoint_lines_are_caught(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = _store(path)
    cps = tmp_path / "cp.jsonl"
    write_checkpoint(store, cps, 200.0)
    good = cps.read_text()
    # the attacker truncates the chain, then writes a checkpoint of the shorter chain with a guessed key
    _attacker(path).execute("DELETE FROM decisions WHERE id > 3")
    forged = Checkpoint(300.0, 3, str(store.chain_value(3)))
    forged = Checkpoint(forged.ts, forged.rows, forged.mac, signature(b"guess" * 8, forged.body()))
    cps.write_text(forged.line() + "\n")
    with pytest.raises(CheckpointError, match="line 1: bad signature"):
        read_checkpoints(cps, KEY)
    # or edits the row count of the real line
    cps.write_text(good.replace('"rows":5', '"rows":3'))
    with pytest.raises(CheckpointError, match="line 1: bad signature"):
        read_checkpoints(cps, KEY)
    cps.write_text(good + "not json\n")
    with pytest.raises(CheckpointError, match="line 2: not a checkpoint"):
        read_checkpoints(cps, KEY)


# ------------------------------------------------------------------------------------ (d) escalations
def _escalated(path: Path) -> tuple[AuditStore, int]:
    store = _store(path, 1)
    did = _append(store, 1, "ESCALATE")
    base = {
        "platform": "console",
        "channel": "general",
        "thread": "t1",
        "user": "alice",
        "text_masked": "my salary [PHONE]",
        "lang": "en",
        "verdict": "ESCALATE",
        "category": "hr",
        "confidence": 0.6,
        "rationale": "r",
    }
    esc = store.open_escalation(did, "escalate", "hr", base, "my salary 090-1234-5678", 10.0, 20.0)
    store.resolve_escalation(Resolution(esc.id, "decline", "rev", "call 090-1234-5678", 30.0, "ev1"))
    return store, esc.id


def test_d_escalation_lifecycle_is_chained(tmp_path: Path) -> None:
    store, esc_id = _escalated(tmp_path / "a.db")
    rows = [r for r in store.export() if r["escalation_id"] == esc_id]
    assert [(r["kind"], r["verdict"], r["user"]) for r in rows] == [
        ("escalation", "OPEN", "alice"),
        ("resolution", "DECLINE", "rev"),
    ]
    assert rows[0]["category"] == "hr" and rows[0]["reason"] == "escalate" and rows[0]["ref_id"] == 2
    assert rows[1]["text_masked"] == "call [PHONE]" and "090" not in json.dumps(rows)
    result = store.verify_chain()
    assert result.ok and result.keyed == 4


def test_d_editing_the_resolution_breaks_verification(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store, esc_id = _escalated(path)
    conn = _attacker(path)
    # the escalations table (feeds the training data) is not append-only: an edit there is caught
    conn.execute("UPDATE escalations SET action = 'approve' WHERE id = ?", (esc_id,))
    result = store.verify_chain()
    assert not result.ok and "differs from its chained resolution" in result.reason
    # editing the chained row too (and recomputing) is caught by the key
    conn.execute("UPDATE decisions SET verdict = 'APPROVE' WHERE kind = 'resolution'")
    _rechain(conn, 4)
    result = store.verify_chain()
    assert not result.ok and result.first_broken == 4 and "MAC" in result.reason


def test_d_deleting_or_reopening_an_escalation_breaks_verification(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store, esc_id = _escalated(path)
    conn = _attacker(path)
    conn.execute("UPDATE escalations SET status = 'open' WHERE id = ?", (esc_id,))
    assert "differs from its chained resolution" in store.verify_chain().reason
    conn.execute("DELETE FROM escalations WHERE id = ?", (esc_id,))
    assert "missing from the escalations table" in store.verify_chain().reason


# ------------------------------------------------------------------------------------ originals
def test_request_original_is_encrypted_and_purged(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    store = AuditStore(tmp_path / "a.db", audit_key=KEY, data_key=DataCipher(Fernet.generate_key().decode()))
    did = _append(store, 0, "ESCALATE")
    base = {"platform": "console", "channel": "c", "thread": "t", "user": "u", "text_masked": "call [PHONE]"}
    esc = store.open_escalation(did, "escalate", "hr", base, "call 090-1234-5678", 10.0, 20.0)
    row = store.conn.execute("SELECT request_text, request_enc FROM escalations").fetchone()
    assert row[0] == "call [PHONE]" and row[1] and "090" not in row[1]
    assert store.escalation_request(esc.id) == "call 090-1234-5678"  # for the reviewer
    assert store.purge(before=5.0, now=50.0)["requests"] == 0  # opened after the cut-off: kept
    assert store.purge(before=11.0, now=50.0)["requests"] == 1
    assert store.escalation_request(esc.id) == "call [PHONE]"


def test_without_a_data_key_only_the_masked_request_is_stored(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "a.db", audit_key=None, data_key=None)
    did = _append(store, 0, "ESCALATE")
    base = {"platform": "console", "channel": "c", "thread": "t", "user": "u", "text_masked": "call [PHONE]"}
    esc = store.open_escalation(did, "escalate", "hr", base, "call 090-1234-5678", 10.0, 20.0)
    assert store.conn.execute("SELECT request_text, request_enc FROM escalations").fetchone() == ("call [PHONE]", None)
    assert store.escalation_request(esc.id) == "call [PHONE]"


def test_purge_expires_stale_raw_events(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "a.db", audit_key=None, data_key=None)
    store.record_event("console", "old", "message", {"text": "090-1234-5678"}, 1.0)
    store.record_event("console", "new", "message", {"text": "hi"}, 100.0)
    assert store.purge(before=50.0, now=200.0) == {"requests": 0, "events": 1}
    assert store.event_state("console", "old") == "expired"
    assert store.conn.execute("SELECT payload FROM events WHERE event_id = 'old'").fetchone()[0] is None
    assert len(store.pending_events()) == 1


# ------------------------------------------------------------------------------------ settings, CLI, start-up
def test_audit_and_privacy_config_keys() -> None:
    from bot.config import parse_config
    from bot.errors import ConfigError
    from serve.ops_settings import load_ops_settings

    ops = load_ops_settings(parse_config({}, "t"))
    assert ops.privacy.retention_days == 30.0 and ops.audit.checkpoint is None
    assert ops.schedule.jobs["audit"].cron == "30 3 * * *"
    ops = load_ops_settings(
        parse_config(
            {"audit": {"checkpoint": "x.jsonl"}, "privacy": {"retention_days": 7}, "schedule": {"audit": "off"}}, "t"
        )
    )
    assert ops.audit.checkpoint == "x.jsonl" and ops.privacy.retention_days == 7.0
    assert not ops.schedule.jobs["audit"].enabled
    for bad, needle in (
        ({"privacy": {"retention": 3}}, "unknown key 'privacy.retention'"),
        ({"privacy": {"retention_days": -1}}, "privacy.retention_days"),
        ({"audit": {"checkpoint": 3}}, "audit.checkpoint"),
        ({"audit": {"key": "x"}}, "unknown key 'audit.key'"),
    ):
        with pytest.raises(ConfigError, match=needle):
            load_ops_settings(parse_config(bad, "t"))


def test_purge_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SO8T_DB", raising=False)
    monkeypatch.delenv("SO8T_CONFIG", raising=False)
    path = tmp_path / "so8t.db"
    store = _store(path, 0, key=None)
    store.record_event("console", "old", "message", {"text": "x"}, 1.0)
    store.close()
    r = CliRunner().invoke(main, ["purge", "--db", str(path)])
    assert r.exit_code == 0 and "1 stale event(s) older than 30 day(s)" in r.output, r.output


def test_startup_warns_once_without_the_audit_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from bot.config import parse_config
    from serve.app import build_app
    from tests.support.fakes import FakeRuntime

    app = build_app(parse_config({}, "t"), FakeRuntime(), db_path=str(tmp_path / "a.db"))
    app.store.close()
    warnings = [r.getMessage() for r in caplog.records if "SO8T_AUDIT_KEY is not set" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0]
