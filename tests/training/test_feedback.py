"""Reviewed escalations -> feedback file (masked, deduped), versioned dataset (never in test), the
promotion gate both ways, the head registry's rollback, and the retrain job's record in the next report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.reports import build_report, render_markdown
from bot.store import AuditStore
from runtime.base import CATEGORIES, LABELS
from runtime.head import HeadParams, SafetyHead
from serve.scheduler import JobRun
from tests.support.console_helpers import console_app
from tests.support.fakes import FakeRuntime
from tests.support.ops_helpers import Clock, ops_config, tokyo
from training.feedback import append_feedback, make_row, read_feedback
from training.head_registry import HeadRegistry, gate
from training.versioned import build_versioned, latest_version

EMAIL, PHONE = "hanako.sato@example.co.jp", "03-1234-5678"


async def test_a_reviewed_console_escalation_lands_in_the_next_feedback_file(tmp_path: Path) -> None:
    clock = Clock(tokyo(2026, 11, 17, 10))
    cfg = ops_config(tmp_path)
    async with console_app(tmp_path, cfg, FakeRuntime(), clock=clock) as (app, c):
        assert app.scheduler is not None
        for user, text in (
            ("carol", f"I want to sue the vendor, contact {EMAIL} / {PHONE}"),
            ("dave", "what medication helps with a migraine"),
            ("erin", "my manager cut my salary"),
            ("frank", "still thinking about a lawsuit"),  # stays open: not feedback yet
        ):
            await c.say(user, text)
            await app.bot.wait_idle()
        cases = {e.user: e for e in app.store.open_escalations()}
        for user, action in (("carol", "answer Legal will call you."), ("dave", "approve"), ("erin", "decline")):
            await c.say("reviewer", f"/so8t resolve {cases[user].id} {action}", channel=f"{cases[user].domain}-review")
            await app.bot.wait_idle()
        clock.advance(3600)
        first = await app.scheduler.run_now("feedback")
        assert first is not None and first.outcome == "ok", first
        rows = read_feedback(tmp_path / "feedback")
        assert (tmp_path / "feedback" / "2026-W47.jsonl").is_file()
        by_label = {r["label"]: r for r in rows}
        assert set(by_label) == {"ESCALATE", "ALLOW", "REFUSE"} and len(rows) == 3
        legal = by_label["ESCALATE"]
        assert legal["category"] == "legal" and legal["domain"] == "legal" and legal["source"] == "feedback"
        assert legal["reviewer_role"] == "reviewer:legal" and legal["date"] == "2026-11-17" and legal["lang"] == "en"
        assert "[EMAIL]" in legal["text"] and "[PHONE]" in legal["text"]
        assert by_label["ALLOW"]["category"] == "none" and by_label["REFUSE"]["category"] == "hr"
        raw = (tmp_path / "feedback" / "2026-W47.jsonl").read_text()
        assert EMAIL not in raw and PHONE not in raw and "hanako" not in raw
        assert all(r["split"] in ("train", "dev") for r in rows)

        # the next run takes only what was resolved since; the same text resolved again is a duplicate
        await c.say("carol", f"I want to sue the vendor, contact {EMAIL} / {PHONE}")
        await app.bot.wait_idle()
        again = [e for e in app.store.open_escalations() if e.user == "carol"][0]
        await c.say("admin", f"/so8t resolve {again.id} decline", channel="legal-review")
        await app.bot.wait_idle()
        clock.advance(3600)
        second = await app.scheduler.run_now("feedback")
        assert second is not None and "1 resolved case(s): 0 new example(s), 1 duplicate(s)" in second.summary
        assert len(read_feedback(tmp_path / "feedback")) == 3


def test_append_dedupes_by_text_hash(tmp_path: Path) -> None:
    row = make_row(
        text="Need  a DIAGNOSIS",
        lang="en",
        label="ESCALATE",
        category="medical",
        domain="medical",
        reviewer_role="admin",
        date="2026-11-17",
    )
    dup = make_row(
        text="need a diagnosis", lang="en", label="ALLOW", category="none", reviewer_role="admin", date="2026-11-18"
    )
    assert append_feedback([row, dup], tmp_path, "2026-W47") == (1, 1)
    assert append_feedback([dup], tmp_path, "2026-W48") == (0, 1)
    assert not (tmp_path / "2026-W48.jsonl").exists()


def test_versioned_dataset_keeps_feedback_out_of_test(tmp_path: Path) -> None:
    seed = tmp_path / "seed.jsonl"
    seed.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"s{i}",
                    "text": f"seed {i}",
                    "lang": "en",
                    "label": lab,
                    "category": "none",
                    "group": f"g{i}",
                    "source": "core",
                    "split": split,
                }
            )
            + "\n"
            for i, (lab, split) in enumerate([("ALLOW", "train"), ("REFUSE", "test"), ("ESCALATE", "dev")])
        )
    )
    fb = tmp_path / "feedback"
    rows = [
        make_row(
            text=f"reviewed request number {i}",
            lang="ja" if i % 2 else "en",
            label="REFUSE",
            category="security",
            reviewer_role="admin",
            date="2026-11-17",
        )
        for i in range(60)
    ]
    rows[0]["split"] = "test"  # a hand-edited row claiming the test split is moved out of it
    append_feedback(rows, fb, "2026-W47")
    append_feedback(
        [make_row(text="seed 0", lang="en", label="ALLOW", category="none", reviewer_role="admin", date="2026-11-18")],
        fb,
        "2026-W48",
    )  # already in the seed set
    data, manifest = build_versioned(seed, fb, tmp_path / "versions")
    merged = [json.loads(line) for line in data.read_text().splitlines()]
    assert len(merged) == 63 and manifest["feedback_rows"] == 60 and manifest["feedback_duplicates_skipped"] == 1
    assert not [r for r in merged if r["source"] == "feedback" and r["split"] == "test"]
    assert [r["id"] for r in merged if r["split"] == "test"] == ["s1"]  # the frozen test split is the seed's
    assert manifest["counts"]["REFUSE|ja|feedback"] == 30 and manifest["counts"]["ALLOW|en|core"] == 1
    assert [p["kind"] for p in manifest["parts"]] == ["seed", "feedback", "feedback"]
    assert all(len(p["sha256"]) == 64 for p in manifest["parts"])
    assert latest_version(tmp_path / "versions") == data
    again, m2 = build_versioned(seed, fb, tmp_path / "versions")
    assert m2["version"] == manifest["version"] and again == data  # same inputs, same version


def metrics(safety: float, refuse: float) -> dict[str, Any]:
    return {"safety_score": safety, "refuse_recall": refuse, "accuracy": safety}


def test_gate_promotes_a_better_head_and_refuses_a_worse_one() -> None:
    current = {"test": metrics(0.80, 0.90), "feedback": metrics(0.70, 0.80)}
    better = gate({"test": metrics(0.82, 0.895), "feedback": metrics(0.75, 0.80)}, current)
    assert better.promote and "0.8000 -> 0.8200" in better.reason
    worse = gate({"test": metrics(0.79, 0.95), "feedback": metrics(0.90, 0.90)}, current)
    assert not worse.promote and "safety_score on test dropped: 0.8000 -> 0.7900" in worse.reason
    recall = gate({"test": metrics(0.85, 0.88), "feedback": metrics(0.75, 0.85)}, current)
    assert not recall.promote and "refuse_recall on test dropped by more than 0.01" in recall.reason
    fb_worse = gate({"test": metrics(0.85, 0.90), "feedback": metrics(0.60, 0.80)}, current)
    assert not fb_worse.promote and "on feedback" in fb_worse.reason
    partial = gate({"test": metrics(0.80, 0.90), "feedback": {"safety_score": None, "refuse_recall": 1.0}}, current)
    assert partial.promote  # feedback without all three labels has no safety_score: only what exists is compared


def make_head(path: Path, head_id: str, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    d, hidden, out = 8, 4, len(LABELS) + len(CATEGORIES)
    params = HeadParams(
        mean=np.zeros(d, np.float32),
        std=np.ones(d, np.float32),
        w1=rng.normal(size=(d, hidden)).astype(np.float32),
        b1=np.zeros(hidden, np.float32),
        w2=rng.normal(size=(hidden, out)).astype(np.float32),
        b2=np.zeros(out, np.float32),
        wn=np.zeros((16, out), np.float32),
    )
    SafetyHead(params, "fp-test", "test", d, meta={"head_id": head_id}).save(path)
    return path


def test_registry_promotes_and_rolls_back(tmp_path: Path) -> None:
    reg = HeadRegistry(tmp_path / "models")
    base = make_head(tmp_path / "base.npz", "head-base", 1)
    cand = make_head(tmp_path / "cand.npz", "head-cand", 2)
    reg.ensure_base(base, "head-base")
    reg.promote(cand, "head-cand", {"test": metrics(0.9, 0.9)})
    assert SafetyHead.load(reg.current_path).head_id == "head-cand"
    old, new = reg.rollback()
    assert old["head_id"] == "head-cand" and new["head_id"] == "head-base"
    assert SafetyHead.load(reg.current_path).head_id == "head-base"
    with pytest.raises(LookupError):
        reg.rollback()


async def test_retrain_job_records_the_gate_and_the_next_report_shows_it(tmp_path: Path) -> None:
    from bot.config import parse_config
    from bot.settings import load_settings
    from serve.app import job_context
    from serve.jobs import JobContext, retrain_job
    from serve.ops_settings import load_ops_settings

    outcomes = iter(
        [
            {
                "promoted": True,
                "reason": "not worse on test: safety_score 0.8000 -> 0.8200",
                "candidate": "head-v0-aaaa",
                "current": "head-v0-base",
                "metrics": {},
            },
            {
                "promoted": False,
                "reason": "safety_score on test dropped: 0.8200 -> 0.7900",
                "candidate": "head-v0-bbbb",
                "current": "head-v0-aaaa",
                "metrics": {},
            },
        ]
    )

    def fake_runner(ctx: JobContext, run: JobRun) -> dict[str, Any]:
        return next(outcomes)

    config = parse_config(ops_config(tmp_path, schedule={"retrain": "0 3 * * sun"}), "test")
    store = AuditStore(tmp_path / "so8t.db")
    ctx = job_context(config, load_settings(config, str(tmp_path / "so8t.db")), load_ops_settings(config), store, {})
    ctx.retrain_runner = fake_runner
    t = tokyo(2026, 11, 22, 3)
    first = await retrain_job(ctx, JobRun("retrain", t, t, "schedule", None))
    second = await retrain_job(ctx, JobRun("retrain", t + 7 * 86400, t + 7 * 86400, "schedule", None))
    assert "promoted" in first.summary and "rejected" in second.summary and "dropped" in second.summary
    md = render_markdown(build_report(store, t - 86400, t + 8 * 86400, now=t + 8 * 86400))
    store.close()
    assert "promoted head-v0-aaaa — not worse on test" in md
    assert "rejected head-v0-bbbb — safety_score on test dropped" in md
