"""The same store on SQLite and on PostgreSQL (`store_target`): reports' queries, jobs and their locks,
model changes, the adapters' ledger and the console workspace, the keyed chain and `so8t audit verify`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from adapters.console.workspace import Workspace
from adapters.ledger import Ledger, Posted
from bot.events import Resolution
from bot.store import SCHEMA_VERSION, AuditStore, DecisionRecord, describe_target
from bot.store.dialect import redact_url
from runtime.base import Decision

KEY = b"k" * 32


def _record(i: int, verdict: str = "ALLOW") -> DecisionRecord:
    d = Decision(
        decision=verdict,
        category="none",
        confidence=0.75,  # type: ignore[arg-type]
        probs={"ALLOW": 0.75, "REFUSE": 0.25},
        rationale="r",
        human_required=False,
        lang="ja",
        model_id="m",
        head_id="h",
    )
    return DecisionRecord(100.0 + i, "slack", "C1", f"t{i}", "u1", f"e{i}", d, 3.25, f"text {i}", "0" * 64)


def test_schema_answers_and_report_queries(store_target: str) -> None:
    store = AuditStore(store_target, audit_key=KEY, data_key=None)
    assert store.schema_version() == SCHEMA_VERSION
    first = store.append_decision(_record(0))
    store.append_decision(_record(1, "REFUSE"))
    store.append_response(first, _record(2, "REFUSE"), {"unsafe": 0.9})
    store.record_answer(first, "ok", 100.0)
    store.record_answer(first, "loop_cut", 101.0)  # a replay overwrites
    assert store.answer_outcomes() == {"loop_cut": 1}
    assert store.response_counts() == {"REFUSE": 1}
    assert store.counts()["verdict"] == {"ALLOW": 1, "REFUSE": 1}
    assert store.latencies_ms() == [3.25, 3.25]
    assert store.last_refusal("slack", "C1", "t2", "u1") == 3
    assert store.decision_for_event("slack", "e1") is not None
    result = store.verify_chain()
    assert result.ok and result.rows == 3 and result.keyed == 3
    store.close()


def test_jobs_locks_runs_and_model_changes(store_target: str) -> None:
    a = AuditStore(store_target, audit_key=None, data_key=None, owner="A")
    b = AuditStore(store_target, audit_key=None, data_key=None, owner="B")
    assert a.ensure_job_state("report", 50.0)["last_scheduled_for"] == 50.0
    assert b.ensure_job_state("report", 60.0)["last_scheduled_for"] == 50.0  # created once
    assert a.acquire_job_lock("report", "A", 100.0, 10.0)
    assert not b.acquire_job_lock("report", "B", 105.0, 10.0)  # A holds it
    assert a.acquire_job_lock("report", "A", 105.0, 10.0)  # renewing
    assert b.acquire_job_lock("report", "B", 115.0, 10.0)  # expired: taken over
    run = b.start_job_run("report", 70.0, "schedule", "B", 115.0)
    b.finish_job_run(run, "ok", {"rows": 3}, 116.0, watermark=70.0)
    state = a.job_state("report")
    assert state is not None and state["last_scheduled_for"] == 70.0 and state["watermark"] == 70.0
    assert a.last_job_runs()["report"]["detail"] == {"rows": 3}
    assert a.record_model_change(1.0, "promote", "c", "p", "better", {"f1": 0.9}) >= 1
    assert a.model_changes()[0]["metrics"] == {"f1": 0.9}
    assert a.lead("discord", 10.0) and not b.lead("discord", 10.0)
    a.resign("discord")
    assert b.lead("discord", 10.0)
    a.close()
    b.close()


def test_ledger_and_console_workspace(store_target: str) -> None:
    ledger = Ledger(store_target)
    ledger.put("slack", Posted("reply:e1", "1.1", "C1", None, "answer", "[]"))
    ledger.put("slack", Posted("reply:e1", "9.9", "C1", None, "answer", "[]"))  # idempotent
    ledger.put("slack", Posted("reply:e1#2", "1.2", "C1", None, "answer", "[]"))
    ledger.put("slack", Posted("reply:e1#3", "1.3", "C1", None, "answer", "[]"))
    assert ledger.get("slack", "reply:e1") == Posted("reply:e1", "1.1", "C1", None, "answer", "[]")
    assert ledger.parts("slack", "reply:e1") == ["1.2", "1.3"]
    assert ledger.by_ref("slack", "1.2") is not None and ledger.kinds("slack", ["1.1"]) == {"1.1": "answer"}
    ledger.join_thread("slack", "C1", "t1")
    assert ledger.in_thread("slack", "C1", "t1") and ledger.thread_target("slack", "C1", "t1") == "t1"
    ledger.set_alias("slack", "general", "C1")
    ledger.set_alias("slack", "general", "C2")
    assert ledger.alias("slack", "general") == "C2"
    ws = Workspace(store_target, clock=lambda: 5.0)
    row, created = ws.add("general", None, "ann", "call 090-1234-5678", key="k1")
    again, created_again = ws.add("general", None, "ann", "other", key="k1")
    assert created and not created_again and again["id"] == row["id"] and "090" not in row["text"]
    ws.update(row["id"], "edited", None)
    assert [m["text"] for m in ws.messages("general")] == ["edited"]
    assert ws.thread_rows("general", row["thread"], "") and row["user"] == "ann"
    ws.close()
    ledger.close()


def test_audit_verify_command(store_target: str) -> None:
    from cli.main import main

    store = AuditStore(store_target, audit_key=None, data_key=None)
    for i in range(3):
        store.append_decision(_record(i))
    store.close()
    result = CliRunner().invoke(main, ["audit", "verify", "--db", store_target])
    assert result.exit_code == 0, result.output
    assert "3" in result.output


def test_report_and_checkpoint(store_target: str, tmp_path: Path) -> None:
    from bot.checkpoint import check_checkpoints, read_checkpoints, write_checkpoint
    from bot.reports import build_report

    store = AuditStore(store_target, audit_key=KEY, data_key=None)
    did = store.append_decision(_record(0, "ESCALATE"))
    base = {"platform": "slack", "channel": "C1", "thread": "t0", "user": "u1", "text_masked": "x", "lang": "ja"}
    esc = store.open_escalation(did, "escalate", "hr", base, "raw", 100.0, 200.0)
    store.resolve_escalation(Resolution(esc.id, "approve", "rev", "ok", 150.0, "ev1"))
    report = build_report(store, 0.0, 1000.0, now=1000.0)
    assert report.counts["verdict"] == {"ESCALATE": 1}
    checkpoints = tmp_path / "checkpoints.jsonl"
    write_checkpoint(store, checkpoints, 1000.0)
    assert check_checkpoints(store, read_checkpoints(checkpoints, KEY)) is None
    assert store.verify_chain().ok and store.verify_chain().rows == 3
    store.close()


def test_a_lost_postgres_connection_fails_one_call_then_reconnects(pg_url: str) -> None:
    import psycopg

    from bot.errors import StoreError

    store = AuditStore(pg_url, audit_key=None, data_key=None)
    store.append_decision(_record(0))
    pid = store.sql("SELECT pg_backend_pid()")[0][0]
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    try:
        store.append_decision(_record(1))
    except StoreError as exc:  # the call that finds the connection gone fails in one line
        assert "\n" not in str(exc)
    store.append_decision(_record(2))  # and the next one connects again
    assert store.verify_chain().ok and store.verify_chain().rows in (2, 3)
    store.close()


def test_status_and_report_commands(store_target: str) -> None:
    import json

    from cli.main import main

    store = AuditStore(store_target, audit_key=None, data_key=None)
    store.append_decision(_record(0, "REFUSE"))
    store.close()
    status = CliRunner().invoke(main, ["status", "--json", "--db", store_target])
    assert status.exit_code == 0, status.output
    info = json.loads(status.output)
    assert info["store_exists"] and info["store"] == describe_target(store_target)
    report = CliRunner().invoke(main, ["report", "--since", "1970-01-01", "--format", "json", "--db", store_target])
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["counts"]["verdict"] == {"REFUSE": 1}


def test_urls_are_shown_without_their_password() -> None:
    assert describe_target("postgresql://so8t:s3cret@db:5432/so8t") == "postgresql://so8t:***@db:5432/so8t"
    assert describe_target("var/so8t.db") == "var/so8t.db"


def _racing(first: AuditStore, second: Callable[[], Any]) -> list[Any]:
    """Run `second` in a thread while `first` is inside its write transaction, just before it chains: the
    other replica's call starts while the first has checked and not yet committed."""
    out: list[Any] = []
    plain = first._append

    def append(c: Any, row: dict[str, Any]) -> int:
        if not out:
            out.append(threading.Thread(target=lambda: out.append(second())))
            out[0].start()
            time.sleep(0.3)  # the other call is now waiting on the lock (or, unserialised, past its check)
        return plain(c, row)

    first._append = append  # type: ignore[method-assign]
    return out


def test_two_replicas_resolving_or_saving_one_case_at_once_win_once(store_target: str) -> None:
    a = AuditStore(store_target, audit_key=KEY, data_key=None, owner="A")
    b = AuditStore(store_target, audit_key=KEY, data_key=None, owner="B")
    did = a.append_decision(_record(0, "ESCALATE"))
    base = {"platform": "slack", "channel": "C1", "thread": "t0", "user": "u1", "text_masked": "x", "lang": "ja"}
    esc = a.open_escalation(did, "escalate", "hr", base, "raw", 100.0, 200.0)
    race = _racing(a, lambda: b.resolve_escalation(Resolution(esc.id, "decline", "bob", "no", 151.0, "ev2")))
    resolved, won = a.resolve_escalation(Resolution(esc.id, "approve", "ann", "ok", 150.0, "ev1"))
    race[0].join(timeout=30)
    other, other_won = race[1]
    assert won and not other_won
    assert resolved.resolution and resolved.resolution.action == "approve"
    assert other.resolution and other.resolution.event_id == "ev1"  # the other replica sees the winner
    _, replay = b.resolve_escalation(Resolution(esc.id, "approve", "ann", "ok", 152.0, "ev1"))
    assert replay  # the winning event replayed still wins, and chains nothing
    race = _racing(a, lambda: b.save_to_kb(esc.id, "bob", "ev4", 161.0, "kb/hr/b.md"))
    saved, first = a.save_to_kb(esc.id, "ann", "ev3", 160.0, "kb/hr/a.md")
    race[0].join(timeout=30)
    again, second = race[1]
    assert first and not second and again["id"] == saved["id"] and saved["user"] == "ann"
    kinds = [r["kind"] for r in a.export()]
    assert kinds.count("resolution") == 1 and kinds.count("kb_saved") == 1
    assert a.verify_chain().ok
    a.close()
    b.close()


def test_urls_hide_a_password_with_an_at_sign_or_in_the_query() -> None:
    assert redact_url("postgresql://so8t:p@ss@w0rd@db:5432/so8t") == "postgresql://so8t:***@db:5432/so8t"
    assert redact_url("postgres://so8t@db/so8t?password=s3cret&sslmode=require") == (
        "postgres://so8t@db/so8t?password=***&sslmode=require"
    )
    assert redact_url("postgresql://db/so8t?sslmode=require&PASSWD=x%40y") == (
        "postgresql://db/so8t?sslmode=require&PASSWD=***"
    )
    assert redact_url("postgresql://so8t@db:5432/so8t") == "postgresql://so8t@db:5432/so8t"
    with_user = "postgresql://db/so8t?user=me@corp&password=a@b"
    assert redact_url(with_user) == "postgresql://db/so8t?user=me@corp&password=***"
    assert redact_url("postgresql://so8t:a/b@db/so8t") == "postgresql://so8t:***@db/so8t"
    assert "s3" not in describe_target("postgresql://u:s3@x@db/so8t")
