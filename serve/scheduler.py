"""Scheduled jobs (weekly report, feedback, optional retrain) with cron schedules from config.

The due/lock/record logic lives here and reads time from an injected clock, so tests move time by
hand (no sleeping). In `so8t serve` an APScheduler AsyncIOScheduler fires the cron triggers and calls
`tick`; `start` also ticks once, which catches a run missed during downtime up ONCE: a job is due
when the latest cron time <= now is newer than the last one it ran for, however many were missed.

Two processes on one store never run a job at once: a run holds the job's lock row (with a TTL, so
a crashed holder does not block forever) and re-checks that the slot is still due inside it.
Every run is a `job_runs` row: start, end, outcome, detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from bot.errors import StoreError
from bot.store import AuditStore
from serve.ops_settings import JobSchedule, ScheduleSettings

log = logging.getLogger("so8t.scheduler")
_US = timedelta(microseconds=1)
_WINDOWS_S = (3600.0, 86400.0, 8 * 86400.0, 32 * 86400.0, 370 * 86400.0)


@dataclass(frozen=True)
class JobRun:
    """What a job function is given."""

    name: str
    now: float
    scheduled_for: float | None  # the cron time this run is for (None: run by hand)
    trigger: str  # schedule | catchup | manual
    last_watermark: float | None  # what the previous successful run recorded (e.g. "resolved up to")


@dataclass(frozen=True)
class JobResult:
    outcome: str = "ok"  # ok | failed | skipped
    summary: str = ""  # one line for /so8t status and `so8t jobs list`
    detail: dict[str, Any] = field(default_factory=dict)
    watermark: float | None = None


@dataclass(frozen=True)
class RunRecord:
    job: str
    run_id: int
    outcome: str
    summary: str
    trigger: str
    scheduled_for: float | None


JobFn = Callable[[JobRun], Awaitable[JobResult]]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Scheduler:
    def __init__(
        self,
        store: AuditStore,
        settings: ScheduleSettings,
        jobs: Mapping[str, JobFn],
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.jobs = dict(jobs)
        self.clock = clock
        self.owner = owner or f"so8t-{uuid.uuid4().hex[:12]}"
        self._aps: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._triggers: dict[str, CronTrigger] = {}

    # ------------------------------------------------------------------ schedule arithmetic
    def schedule(self, name: str) -> JobSchedule:
        if name not in self.settings.jobs or name not in self.jobs:
            known = ", ".join(n for n in self.settings.jobs if n in self.jobs)
            raise KeyError(f"unknown job {name!r} (known: {known})")
        return self.settings.jobs[name]

    def trigger(self, name: str) -> CronTrigger | None:
        sch = self.schedule(name)
        if sch.cron is None:
            return None
        if name not in self._triggers:
            self._triggers[name] = CronTrigger.from_crontab(sch.cron, timezone=sch.timezone)
        return self._triggers[name]

    def next_fire(self, name: str, after: float) -> float | None:
        trig = self.trigger(name)
        if trig is None:
            return None
        nxt = trig.get_next_fire_time(None, _dt(after) + _US)
        return nxt.timestamp() if nxt is not None else None

    def latest_fire(self, name: str, now: float, after: float) -> float | None:
        """The latest cron time t with after < t <= now (None when there is none)."""
        trig = self.trigger(name)
        if trig is None or now <= after:
            return None
        for window in _WINDOWS_S:
            start = max(after, now - window)
            latest = None
            cur = trig.get_next_fire_time(None, _dt(start) + _US)
            while cur is not None and cur.timestamp() <= now:
                latest = cur.timestamp()
                cur = trig.get_next_fire_time(None, cur + _US)
            if latest is not None or start <= after:
                return latest
        return None

    def due(self, now: float | None = None, only: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """(job, cron time) for every enabled job with a slot in (last run's slot, now]."""
        now = self.clock() if now is None else now
        names = list(only) if only is not None else list(self.jobs)
        out = []
        for name in names:
            if not self.schedule(name).enabled:
                continue
            state = self.store.ensure_job_state(name, now)  # first sight: nothing is owed before now
            after = float(state["last_scheduled_for"] or now)
            after = max(after, now - self.settings.max_catchup_days * 86400.0)
            slot = self.latest_fire(name, now, after)
            if slot is not None:
                out.append((name, slot))
        return out

    # ------------------------------------------------------------------ running
    async def tick(self, now: float | None = None, only: Iterable[str] | None = None) -> list[RunRecord]:
        """Run every due job once (missed slots collapse into one run); returns what ran."""
        now = self.clock() if now is None else now
        ran = []
        for name, slot in self.due(now, only):
            trigger = "schedule" if now - slot < 300 else "catchup"
            rec = await self._run(name, slot, trigger)
            if rec is not None:
                ran.append(rec)
        return ran

    async def run_now(self, name: str) -> RunRecord | None:
        """Run a job once by hand (`so8t jobs run NAME`); None when another process holds its lock."""
        self.schedule(name)
        return await self._run(name, None, "manual")

    async def _run(self, name: str, slot: float | None, trigger: str) -> RunRecord | None:
        fn = self.jobs[name]
        now = self.clock()
        if not self.store.acquire_job_lock(name, self.owner, now, self.settings.lock_ttl_s):
            log.info("job %s is running in another process; skipped here", name)
            return None
        try:
            state = self.store.ensure_job_state(name, now)
            if slot is not None and float(state["last_scheduled_for"] or 0) >= slot:
                return None  # another scheduler ran this slot while we waited for the lock
            run_id = self.store.start_job_run(name, slot, trigger, self.owner, now)
            log.info("job %s started (%s)", name, trigger)
            run = JobRun(name, now, slot, trigger, state.get("watermark"))
            try:
                result = await fn(run)
            except asyncio.CancelledError:
                self.store.finish_job_run(run_id, "cancelled", {}, self.clock())
                raise
            except Exception as exc:  # noqa: BLE001 - recorded; the next slot tries again
                log.exception("job %s failed", name)
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                result = JobResult("failed", f"{type(exc).__name__}: {msg}"[:300])
            detail = {"summary": result.summary, **result.detail}
            watermark = result.watermark if result.outcome == "ok" else None
            self.store.finish_job_run(run_id, result.outcome, detail, self.clock(), watermark)
            log.info("job %s finished: %s", name, result.outcome)
            return RunRecord(name, run_id, result.outcome, result.summary, trigger, slot)
        finally:
            with contextlib.suppress(StoreError):
                self.store.release_job_lock(name, self.owner)

    # ------------------------------------------------------------------ status
    def status(self, now: float | None = None) -> list[dict[str, Any]]:
        now = self.clock() if now is None else now
        try:
            last = self.store.last_job_runs()
        except StoreError:
            last = {}
        out = []
        for name in self.jobs:
            sch = self.schedule(name)
            run = last.get(name)
            out.append(
                {
                    "name": name,
                    "cron": sch.cron,
                    "timezone": sch.timezone,
                    "enabled": sch.enabled,
                    "next": self.next_fire(name, now) if sch.enabled else None,
                    "last_started": run["started_at"] if run else None,
                    "last_ended": run["ended_at"] if run else None,
                    "last_outcome": run["outcome"] if run else None,
                    "last_summary": (run["detail"] or {}).get("summary", "") if run else "",
                    "last_trigger": run["trigger"] if run else None,
                }
            )
        return out

    # ------------------------------------------------------------------ inside `so8t serve`
    def start(self) -> None:
        """Register the cron triggers with APScheduler and catch up a missed run (call inside the loop)."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        aps = AsyncIOScheduler(timezone=self.settings.timezone, event_loop=asyncio.get_running_loop())
        for name in self.jobs:
            trig = self.trigger(name)
            if trig is None:
                continue
            aps.add_job(
                self._fire,
                trig,
                args=[name],
                id=name,
                name=f"so8t-{name}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=3600,
                replace_existing=True,
            )
        aps.start()
        self._aps = aps
        missed = self.due()  # also records first sight of each job, before anything else writes
        if missed:
            log.info("catching up %d missed job run(s): %s", len(missed), ", ".join(n for n, _ in missed))
            self._spawn(self._fire(None))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fire(self, name: str | None) -> None:
        try:
            await self.tick(only=None if name is None else [name])
        except Exception:  # noqa: BLE001 - a broken store must not kill the scheduler
            log.exception("scheduled tick failed")

    async def stop(self) -> None:
        if self._aps is not None:
            with contextlib.suppress(Exception):
                self._aps.shutdown(wait=False)
            self._aps = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def next_runs(self) -> list[tuple[str, datetime | None]]:
        """APScheduler's own view of the next fire times (for logs and tests)."""
        if self._aps is None:
            return []
        return [(job.id, job.next_run_time) for job in self._aps.get_jobs()]
