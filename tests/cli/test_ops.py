"""`so8t report`, `so8t audit verify|export`, and `so8t serve` errors: one line, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.store import AuditStore, DecisionRecord
from cli.main import main
from runtime.base import Decision


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SO8T_DB", raising=False)
    monkeypatch.delenv("SO8T_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "so8t.db"
    store = AuditStore(path)
    for i, (verdict, cat, lang) in enumerate(
        [
            ("ALLOW", "none", "en"),
            ("REFUSE", "security", "en"),
            ("ESCALATE", "hr", "ja"),
            ("ALLOW", "none", "ja"),
        ]
    ):
        store.append_decision(
            DecisionRecord(
                ts=1_714_521_600.0 + i * 86400,
                platform="console",
                channel="general",
                thread=f"t{i}",
                user="a",
                event_id=f"e{i}",
                decision=Decision(
                    decision=verdict,
                    category=cat,
                    confidence=0.9,  # type: ignore[arg-type]
                    probs={verdict: 0.9},
                    rationale="r",
                    human_required=False,
                    lang=lang,
                ),
                latency_ms=3.0,
                text_masked=f"masked {i}",
                text_sha256="0" * 64,
            )
        )
    store.close()
    return path


def test_report_markdown_and_csv(db: Path) -> None:
    r = CliRunner().invoke(main, ["report", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "Decisions: 4" in r.output and "| ALLOW | 2 |" in r.output and "| ja | 2 |" in r.output
    r = CliRunner().invoke(
        main, ["report", "--db", str(db), "--format", "csv", "--since", "2024-05-02", "--until", "2024-05-04"]
    )
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "dimension,value,count"
    assert "verdict,REFUSE,1" in r.output and "verdict,ESCALATE,1" in r.output and "ALLOW" not in r.output


def test_report_errors_are_one_line(db: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["report", "--db", str(db), "--since", "last tuesday"])
    assert r.exit_code == 2 and "--since: cannot read time" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "missing.db")])
    assert r.exit_code == 2 and "no audit database at" in r.output
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 1000)
    r = CliRunner().invoke(main, ["audit", "verify", "--db", str(bad)])
    assert r.exit_code == 2 and "is corrupt" in r.output and len(r.output.strip().splitlines()) == 1


def test_audit_verify_ok_and_broken(db: Path) -> None:
    r = CliRunner().invoke(main, ["audit", "verify", "--db", str(db)])
    assert r.exit_code == 0 and "intact: 4 row(s)" in r.output
    store = AuditStore(db)
    store.conn.execute("DROP TRIGGER decisions_no_update")
    store.conn.execute("UPDATE decisions SET verdict = 'ALLOW' WHERE id = 2")
    store.close()
    r = CliRunner().invoke(main, ["audit", "verify", "--db", str(db)])
    assert r.exit_code == 1 and "broken at row 2" in r.output


def test_audit_export_jsonl(db: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["audit", "export", "--db", str(db), "--since", "2024-05-03"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert [row["id"] for row in rows] == [3, 4] and rows[0]["text_masked"] == "masked 2"
    out = tmp_path / "export.jsonl"
    r = CliRunner().invoke(main, ["audit", "export", "--db", str(db), "--out", str(out)])
    assert r.exit_code == 0 and len(out.read_text().splitlines()) == 4


def test_serve_with_a_corrupt_db_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 1000)
    r = CliRunner().invoke(main, ["serve", "--db", str(bad), "--port", "0"])
    assert r.exit_code == 2 and "is corrupt" in r.output and "Traceback" not in r.output


def test_serve_with_a_bad_config_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("policy:\n  rate_limit:\n    per_minute: lots\n")
    r = CliRunner().invoke(main, ["--config", str(cfg), "serve", "--port", "0"])
    assert r.exit_code == 2 and "policy.rate_limit.per_minute" in r.output


@pytest.mark.parametrize(("flags", "level"), [([], "WARNING"), (["-v"], "DEBUG")])
def test_apscheduler_is_quiet_unless_verbose(db: Path, flags: list[str], level: str) -> None:
    import logging

    r = CliRunner().invoke(main, [*flags, "report", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert logging.getLevelName(logging.getLogger("apscheduler").level) == level


@pytest.fixture()
def no_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[object]:
    """`so8t serve` must fail before this is called; records any call."""
    import runtime.loader

    calls: list[object] = []

    def load_runtime(settings: object) -> object:
        calls.append(settings)
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(runtime.loader, "load_runtime", load_runtime)
    monkeypatch.chdir(tmp_path)
    for var in (
        "SO8T_DB",
        "SO8T_CONFIG",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "DISCORD_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    return calls


def test_serve_on_a_taken_port_fails_before_the_model_loads(no_model: list[object], tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "s.db"), "--port", str(port)])
    assert r.exit_code == 2, r.output
    assert f"cannot listen on 127.0.0.1:{port}" in r.output and "Traceback" not in r.output
    assert no_model == []


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"SLACK_BOT_TOKEN": "xoxp-user-token", "SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN must be"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is required"),
        ({"DISCORD_TOKEN": "t", "DISCORD_GUILD_ID": "abc"}, "DISCORD_GUILD_ID"),
    ],
)
def test_serve_with_bad_platform_variables_fails_before_the_model_loads(
    no_model: list[object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "s.db"), "--port", "0"])
    assert r.exit_code == 2 and needle in r.output and "Traceback" not in r.output, r.output
    assert no_model == []


def test_serve_with_a_corrupt_store_or_bad_schedule_fails_before_the_model_loads(
    no_model: list[object], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 1000)
    r = CliRunner().invoke(main, ["serve", "--db", str(bad), "--port", "0"])
    assert r.exit_code == 2 and "is corrupt" in r.output
    cfg = tmp_path / "c.yaml"
    cfg.write_text("schedule:\n  report: 'not a cron'\n")
    r = CliRunner().invoke(main, ["--config", str(cfg), "serve", "--db", str(tmp_path / "s.db"), "--port", "0"])
    assert r.exit_code == 2 and "schedule.report" in r.output
    assert no_model == []


def test_serve_loads_the_model_once_every_check_passes(no_model: list[object], tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "s.db"), "--port", "0"])
    assert len(no_model) == 1 and r.exit_code != 0  # the fake loader raised after every check passed


def test_status_shows_model_heads_store_cases_and_jobs_without_loading_the_model(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runtime.llama

    def no_llama(*_a: object, **_k: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(runtime.llama.llama_cpp, "Llama", no_llama)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "not-a-token")  # status needs no platform variables
    store = AuditStore(db)
    base = {"platform": "console", "channel": "general", "thread": "t2", "user": "a", "text_masked": "x"}
    store.open_escalation(3, "escalate", "hr", base, "raw", 10.0, 20.0)
    run = store.start_job_run("report", 1_714_521_600.0, "schedule", "test", 1_714_521_600.0)
    store.finish_job_run(run, "ok", {"summary": "4 decisions"}, 1_714_521_660.0)
    store.close()

    r = CliRunner().invoke(main, ["status", "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["model_id"] and info["head_id"] and "hazard_head_id" in info
    assert [h.startswith("response-") for h in info["response_heads"]] == [True]  # the shipped one for Qwen
    assert info["store"] == str(db) and info["open_total"] == 1 and info["open_by_domain"] == {"hr": 1}
    jobs = {j["name"]: j for j in info["jobs"]}
    assert set(jobs) == {"report", "feedback", "retrain", "audit", "kb"}
    assert jobs["report"]["last_outcome"] == "ok" and jobs["report"]["last_summary"] == "4 decisions"

    r = CliRunner().invoke(main, ["status", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert f"Model: {info['model_id']}" in r.output and f"Head: {info['head_id']}" in r.output
    assert "Open cases: 1 · hr 1" in r.output and f"Store: {db}" in r.output
    assert "Job report: 0 9 * * mon (Asia/Tokyo) · last 2024-05-01 00:00 UTC → 2024-05-01 00:01 UTC ok" in r.output


def test_status_without_a_store_does_not_create_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SO8T_CONFIG", raising=False)
    r = CliRunner().invoke(main, ["status", "--db", str(tmp_path / "none.db")])
    assert r.exit_code == 0, r.output
    assert "not created yet" in r.output and "Job audit: 30 3 * * * (Asia/Tokyo) · last never" in r.output
    assert not (tmp_path / "none.db").exists()
