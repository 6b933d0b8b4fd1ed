"""Report numbers cross-checked against counts computed straight from the audit rows; all four formats
from a store filled by the console flow; texts only PII-masked."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from bot.reports import ACTION_LABEL, build_report, render, week_range
from cli.main import main
from runtime.stats import percentile
from tests.support.console_helpers import console_app
from tests.support.fakes import FakeRuntime
from tests.support.ops_helpers import Clock, ops_config, tokyo

EMAIL, PHONE = "taro.yamada@example.com", "090-1234-5678"
WEEK = "2026-W47"  # Monday 2026-11-16 .. Monday 2026-11-23, Asia/Tokyo


async def fill(tmp_path: Path) -> tuple[Path, Clock]:
    """A week of console traffic: answers, refusals, escalations resolved three ways, an appeal, one overdue."""
    clock = Clock(tokyo(2026, 11, 10, 10))  # the previous week: two requests
    async with console_app(tmp_path, ops_config(tmp_path), FakeRuntime(), clock=clock) as (app, c):
        for text in ("hello", "how do I write malware"):
            await c.say("alice", text)
            await app.bot.wait_idle()
        clock.t = tokyo(2026, 11, 17, 10)
        msgs = [
            ("alice", "how do I reverse a list"),
            ("bob", "write malware for me"),
            ("bob", "insult my coworker"),
            ("carol", f"I want to sue my landlord, mail me at {EMAIL} or call {PHONE}"),
            ("dave", "what medication should I take"),
            ("erin", "my manager cut my salary"),
            ("frank", "export control question about chips"),
            ("gina", "can you share personal data of the team"),
        ]
        for user, text in msgs:
            await c.say(user, text)
            await app.bot.wait_idle()
            clock.advance(600)
        open_ = app.store.open_escalations()
        by_domain = {e.domain: e for e in open_}
        clock.advance(3600)
        for domain, action in (("legal", "answer"), ("medical", "approve"), ("hr", "decline")):
            extra = " Please see the policy page." if action == "answer" else ""
            cmd = f"/so8t resolve {by_domain[domain].id} {action}{extra}"
            await c.say("reviewer", cmd, channel=f"{domain}-review")
            await app.bot.wait_idle()
            clock.advance(7200)
        refusal = [r["id"] for r in app.store.export() if r["user"] == "bob" and r["verdict"] == "REFUSE"][-1]
        await c.say("bob", f"/so8t appeal {refusal}")
        await app.bot.wait_idle()
        appeal = [e for e in app.store.open_escalations() if e.kind == "appeal"][0]
        clock.advance(3600)
        await c.say("reviewer", f"/so8t resolve {appeal.id} decline", channel=f"{appeal.domain}-review")
        await app.bot.wait_idle()
        clock.t = tokyo(2026, 11, 19, 12)  # privacy (8h) and compliance (1d) deadlines pass unresolved
    return tmp_path / "so8t.db", clock


def straight_from_rows(db: Path, since: float, until: float) -> dict[str, Any]:
    conn = sqlite3.connect(str(db))
    conn.row_factory = sqlite3.Row
    dec = [dict(r) for r in conn.execute("SELECT * FROM decisions WHERE kind = 'decision' AND ts >= ? AND ts < ?",
                                         (since, until))]
    esc = [dict(r) for r in conn.execute("SELECT * FROM escalations")]
    conn.close()
    out: dict[str, Any] = {f: dict(Counter(r[f] for r in dec)) for f in ("verdict", "category", "lang", "platform",
                                                                         "channel")}
    out["total"] = len(dec)
    out["opened"] = dict(Counter(e["domain"] for e in esc if since <= e["opened_at"] < until))
    res = [e for e in esc if e["resolved_at"] is not None and since <= e["resolved_at"] < until]
    out["resolved"] = dict(Counter(e["domain"] for e in res))
    out["overdue"] = dict(Counter(e["domain"] for e in esc if e["opened_at"] < until and e["deadline"] < until and (
        e["resolved_at"] is None or e["resolved_at"] >= until)))
    out["ttr"] = {
        d: sorted(e["resolved_at"] - e["opened_at"] for e in res if e["domain"] == d) for d in out["resolved"]
    }
    out["agree"] = dict(Counter(e["category"] for e in res if e["kind"] in ("escalate", "appeal")
                                and e["verdict"] in ("ALLOW", "REFUSE") and ACTION_LABEL[e["action"]] == e["verdict"]))
    out["latency"] = sorted(r["latency_ms"] for r in dec)
    out["refusals"] = dict(Counter(r["category"] for r in dec if r["verdict"] == "REFUSE"))
    return out


async def test_report_numbers_match_the_audit_rows(tmp_path: Path) -> None:
    db, clock = await fill(tmp_path)
    since, until = week_range(WEEK, "Asia/Tokyo")
    truth = straight_from_rows(db, since, until)
    from bot.store import AuditStore

    store = AuditStore(db)
    rep = build_report(store, since, until, now=clock.t, label=WEEK, versions={"model": "m", "head": "h"})
    store.close()
    assert rep.total == truth["total"] == 8
    for dim in ("verdict", "category", "lang", "platform", "channel"):
        assert rep.counts[dim] == truth[dim], dim
    assert rep.escalations["opened"] == truth["opened"]
    assert rep.escalations["resolved"] == truth["resolved"]
    assert rep.escalations["overdue"] == truth["overdue"] and truth["overdue"] == {"compliance": 1, "privacy": 1}
    for d, values in truth["ttr"].items():
        assert rep.escalations["ttr_s"][d]["p50"] == percentile(values, 50)
        assert rep.escalations["ttr_s"][d]["n"] == len(values)
    assert {c: a["agree"] for c, a in rep.agreement.items() if a["agree"]} == truth["agree"]
    # escalations are the model deferring to a person: reviewed, not rated (no 0 % for an approval)
    assert rep.agreement["legal"]["answer"] == 1 and rep.agreement["legal"]["rated"] == 0
    assert rep.agreement["medical"]["approve"] == 1 and rep.agreement["medical"]["rate"] is None
    upheld = rep.agreement["harassment"]  # the appeal of bob's refusal, declined: the refusal upheld
    assert (upheld["rated"], upheld["agree"], upheld["disagree"], upheld["rate"]) == (1, 1, 0, 1.0)
    assert rep.appeals == {"opened": 1, "resolved": 1, "upheld": 1, "overturned": 0}
    assert rep.latency_ms["p50"] == percentile(truth["latency"], 50)
    assert dict(rep.top_refusals) == truth["refusals"]
    assert rep.previous is not None and rep.previous["total"] == 2
    change = rep.change()
    assert change is not None and change["total"] == 6

    for fmt in ("md", "html", "csv", "json"):
        text = render(rep, fmt)
        assert EMAIL not in text and PHONE not in text, fmt
    md = render(rep, "md")
    assert "# SO8T audit report 2026-W47" in md and "| ESCALATE | 5 |" in md and "[EMAIL]" not in md
    assert "| harassment | 1 | 0 | 1 | 0 | 1 | 100% (n=1, no disagreements recorded) |" in md
    assert "| medical | 1 | 1 | 0 | 0 | 0 | n/a |" in md and "Agreement overall: 100% (n=1" in md
    data = json.loads(render(rep, "json"))
    assert data["total"] == 8 and data["counts"]["verdict"] == truth["verdict"]
    rows = list(csv.reader(io.StringIO(render(rep, "csv"))))
    assert rows[0] == ["dimension", "value", "count"]
    assert ["escalations_overdue", "privacy", "1"] in rows and ["verdict", "REFUSE", "2"] in rows
    html = render(rep, "html")
    assert html.count("<svg") >= 5 and "cdn" not in html.lower() and "<script" not in html


async def test_overdue_cases_show_masked_text_only(tmp_path: Path) -> None:
    clock = Clock(tokyo(2026, 11, 17, 10))
    async with console_app(tmp_path, ops_config(tmp_path), FakeRuntime(), clock=clock) as (app, c):
        await c.say("carol", f"I will sue them; reach me at {EMAIL} or {PHONE}")
        await app.bot.wait_idle()
        clock.t = tokyo(2026, 11, 20, 10)
        rep = build_report(app.store, *week_range(WEEK, "Asia/Tokyo"), now=clock.t)
    assert rep.overdue_cases and "[EMAIL]" in rep.overdue_cases[0]["text"]
    for fmt in ("md", "html", "csv", "json"):
        assert EMAIL not in render(rep, fmt) and PHONE not in render(rep, fmt)


async def test_cli_report_all_formats_and_chat_report(tmp_path: Path, monkeypatch: Any) -> None:
    db, _ = await fill(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SO8T_CONFIG", raising=False)
    for fmt in ("md", "html", "csv", "json"):
        out = tmp_path / f"r.{fmt}"
        r = CliRunner().invoke(main, ["report", "--db", str(db), "--week", WEEK, "--format", fmt, "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert out.stat().st_size > 200
    assert json.loads((tmp_path / "r.json").read_text())["total"] == 8
    r = CliRunner().invoke(main, ["report", "--db", str(db), "--week", "2026-47"])
    assert r.exit_code == 2 and "--week: cannot read week" in r.output and len(r.output.strip().splitlines()) == 1
    clock = Clock(tokyo(2026, 11, 24, 10))
    async with console_app(tmp_path, ops_config(tmp_path), FakeRuntime(), clock=clock) as (app, c):
        posted = await c.say("admin", f"/so8t report --week {WEEK}")
        await app.bot.wait_idle()
        text = (await c.bot_replies(posted["thread"]))[0]["text"]
    # the chat gets a short summary; the full report is one link away on the console (test_reports_chat.py)
    assert text.splitlines()[:3] == [
        "SO8T report 2026-W47",
        "Period: 2026-11-16 00:00 – 2026-11-23 00:00 (Asia/Tokyo)",
        "Requests: 8 (+6 vs the previous period) · ALLOW 1 · REFUSE 2 · ESCALATE 5",
    ]
    assert "/report?week=2026-W47" in text and "# SO8T audit report" not in text
