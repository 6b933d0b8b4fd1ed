"""The scheduler with a clock the test moves: a week passes and each job fires once; missed weeks
catch up once; two schedulers on one store never run a job at the same time; runs are recorded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.errors import ConfigError
from bot.store import AuditStore
from serve.ops_settings import load_ops_settings
from serve.scheduler import JobResult, JobRun, Scheduler
from tests.support.console_helpers import console_app
from tests.support.fakes import FakeRuntime
from tests.support.ops_helpers import Clock, ops_config, tokyo

WEEK = 7 * 86400.0
SUNDAY = tokyo(2026, 11, 15, 12)  # 2026-W46 ends; Monday 2026-11-16 09:00 JST is the first slot
MONDAY_9 = tokyo(2026, 11, 16, 9)


class Recorder:
    def __init__(self) -> None:
        self.runs: list[JobRun] = []

    def jobs(self, *names: str) -> dict[str, object]:
        def make(name: str) -> object:
            async def fn(run: JobRun) -> JobResult:
                self.runs.append(run)
                return JobResult("ok", f"{name} done", watermark=run.now)

            return fn

        return {n: make(n) for n in names}


def scheduler(path: Path, clock: Clock, rec: Recorder, config: dict | None = None) -> Scheduler:
    ops = load_ops_settings(parse_config(config or {}, "test"))
    return Scheduler(AuditStore(path), ops.schedule, rec.jobs("report", "feedback", "retrain"), clock)  # type: ignore[arg-type]


async def test_a_week_passes_and_each_job_fires_once(tmp_path: Path) -> None:
    clock, rec = Clock(SUNDAY), Recorder()
    s = scheduler(tmp_path / "so8t.db", clock, rec)
    assert await s.tick() == []  # first sight: nothing owed from before
    clock.t = MONDAY_9 - 1
    assert await s.tick() == []
    clock.t = MONDAY_9
    ran = await s.tick()
    assert sorted(r.job for r in ran) == ["feedback", "report"]  # retrain is off by default
    assert all(r.trigger == "schedule" and r.scheduled_for == MONDAY_9 for r in ran)
    for _ in range(3):
        clock.advance(3600)
        assert await s.tick() == []
    clock.t = MONDAY_9 + WEEK + 30
    assert sorted(r.job for r in await s.tick()) == ["feedback", "report"]
    assert [r.name for r in rec.runs].count("report") == 2
    rows = s.store.job_runs("report")
    assert len(rows) == 2 and all(r["outcome"] == "ok" and r["ended_at"] >= r["started_at"] for r in rows)
    s.store.close()


async def test_missed_weeks_catch_up_once(tmp_path: Path) -> None:
    clock, rec = Clock(SUNDAY), Recorder()
    s = scheduler(tmp_path / "so8t.db", clock, rec)
    await s.tick()
    s.store.close()
    clock.t = MONDAY_9 + 3 * WEEK + 2 * 86400  # the process was down for three slots
    s = scheduler(tmp_path / "so8t.db", clock, rec)  # a restart: state comes from the store
    ran = await s.tick()
    assert sorted(r.job for r in ran) == ["feedback", "report"]
    assert all(r.trigger == "catchup" and r.scheduled_for == MONDAY_9 + 3 * WEEK for r in ran)
    assert await s.tick() == []
    clock.t = MONDAY_9 + 4 * WEEK
    assert len(await s.tick()) == 2  # and back on schedule
    s.store.close()


async def test_the_lock_holds_under_two_schedulers(store_target: str) -> None:
    """Two replicas' schedulers on one store (a SQLite file, or PostgreSQL): the period's run happens once."""
    clock = Clock(SUNDAY)
    db = store_target
    entered, release = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def slow(run: JobRun) -> JobResult:
        calls.append("a")
        entered.set()
        await release.wait()
        return JobResult("ok", "slow")

    async def fast(run: JobRun) -> JobResult:
        calls.append("b")
        return JobResult("ok", "fast")

    ops = load_ops_settings(parse_config({"schedule": {"feedback": "off"}}, "test"))
    a = Scheduler(AuditStore(db), ops.schedule, {"report": slow}, clock, owner="A")
    b = Scheduler(AuditStore(db), ops.schedule, {"report": fast}, clock, owner="B")
    await a.tick()
    await b.tick()
    clock.t = MONDAY_9
    task = asyncio.create_task(a.tick())
    await entered.wait()
    assert b.store.job_lock("report")["owner"] == "A"  # type: ignore[index]
    assert await b.tick() == []  # locked: B does not run it
    assert await b.run_now("report") is None  # nor by hand
    release.set()
    ran = await task
    assert [r.job for r in ran] == ["report"]
    assert await b.tick() == []  # the slot is taken: B does not run it afterwards either
    assert calls == ["a"]
    assert b.store.job_lock("report") is None
    assert len(b.store.job_runs("report")) == 1
    a.store.close()
    b.store.close()


async def test_an_expired_lock_is_taken_over(tmp_path: Path) -> None:
    clock, rec = Clock(MONDAY_9), Recorder()
    s = scheduler(tmp_path / "so8t.db", clock, rec)
    assert s.store.acquire_job_lock("report", "dead-process", clock.t - 7 * 3600, 6 * 3600)
    rec_run = await s.run_now("report")
    assert rec_run is not None and rec_run.outcome == "ok" and rec_run.trigger == "manual"
    s.store.close()


async def test_a_failing_job_is_recorded_and_tried_next_slot(tmp_path: Path) -> None:
    clock = Clock(SUNDAY)

    async def broken(run: JobRun) -> JobResult:
        raise OSError("disk full")

    ops = load_ops_settings(parse_config({}, "test"))
    s = Scheduler(AuditStore(tmp_path / "so8t.db"), ops.schedule, {"report": broken}, clock)
    await s.tick()
    clock.t = MONDAY_9
    [rec] = await s.tick()
    assert rec.outcome == "failed" and "disk full" in rec.summary
    status = s.status()[0]
    assert status["last_outcome"] == "failed" and status["next"] == MONDAY_9 + 7 * 86400
    s.store.close()


def test_schedule_config_errors_are_one_line() -> None:
    for bad, needle in (
        ({"schedule": {"report": "every monday"}}, "schedule.report"),
        ({"schedule": {"timezone": "Mars/Olympus"}}, "not a known time zone"),
        ({"schedule": {"weekly": "0 9 * * mon"}}, "unknown key 'schedule.weekly'"),
        ({"reports": {"formats": ["pdf"]}}, "reports.formats"),
    ):
        with pytest.raises(ConfigError, match=needle) as exc:
            load_ops_settings(parse_config(bad, "test"))
        assert "\n" not in str(exc.value)
    ops = load_ops_settings(parse_config({"schedule": {"retrain": {"cron": "0 3 * * sun", "timezone": "UTC"}}}, "t"))
    assert ops.schedule.jobs["retrain"].enabled and ops.schedule.jobs["retrain"].timezone == "UTC"
    assert ops.schedule.jobs["report"].cron == "0 9 * * mon" and ops.schedule.timezone == "Asia/Tokyo"


async def test_serve_starts_apscheduler_and_status_shows_runs(tmp_path: Path) -> None:
    clock = Clock(SUNDAY)
    async with console_app(tmp_path, ops_config(tmp_path), FakeRuntime(), clock=clock) as (app, c):
        assert app.scheduler is not None
        assert sorted(name for name, _ in app.scheduler.next_runs()) == ["audit", "feedback", "kb", "report"]
        clock.t = MONDAY_9
        ran = await app.scheduler.tick()
        assert sorted(r.job for r in ran) == ["audit", "feedback", "kb", "report"]
        status = await c.say("alice", "/so8t status")
        await app.bot.wait_idle()
        text = (await c.bot_replies(status["thread"]))[0]["text"]
        assert "Job report: 0 9 * * mon (Asia/Tokyo)" in text and "ok" in text and "next 2026-11-23" in text
        assert "Job retrain: off" in text
        posted = [m for m in await c.messages("general") if m["user"] == "so8t" and "SO8T audit report" in m["text"]]
        assert len(posted) == 1 and "2026-W46" in posted[0]["text"]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        f"so8t-report-2026-W46.{ext}" for ext in ("csv", "html", "json", "md")
    ]


async def test_the_weekly_report_posts_a_signed_checkpoint_to_the_admin_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.checkpoint import check_checkpoints, read_checkpoints

    key = "k" * 32
    monkeypatch.setenv("SO8T_AUDIT_KEY", key)
    monkeypatch.setenv("SO8T_AUDIT_CHECKPOINT", str(tmp_path / "checkpoints.jsonl"))
    clock = Clock(SUNDAY)
    async with console_app(tmp_path, ops_config(tmp_path), FakeRuntime(), clock=clock) as (app, c):
        await c.say("alice", "How do I book a meeting room?")
        await app.bot.wait_idle()
        clock.t = MONDAY_9
        await app.scheduler.tick()
        await app.bot.wait_idle()
        posted = [m for m in await c.messages("general") if m["user"] == "so8t" and "SO8T audit report" in m["text"]]
        assert len(posted) == 1 and "Audit checkpoint (keep a copy): {" in posted[0]["text"]
        line = posted[0]["text"].split("Audit checkpoint (keep a copy): ", 1)[1].splitlines()[0]
        copy = tmp_path / "from-the-channel.jsonl"
        copy.write_text(line + "\n", encoding="utf-8")
        cps = read_checkpoints(copy, key.encode())  # the signature holds: a usable off-host copy
        assert cps and cps[0].rows >= 1 and check_checkpoints(app.store, cps) is None
