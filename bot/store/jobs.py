"""Scheduled jobs (runs, per-job state, the lock rows that make a job run once) and model changes."""

from __future__ import annotations

import json
from typing import Any

from bot.store.base import Conn, StoreBase, ts_range


class JobStore(StoreBase):
    def job_state(self, job: str) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM job_state WHERE job = ?", (job,))
        return rows[0] if rows else None

    def ensure_job_state(self, job: str, baseline: float) -> dict[str, Any]:
        """The job's state row, created with last_scheduled_for = baseline the first time it is seen."""
        self._write(
            lambda c: c.execute(
                "INSERT INTO job_state(job, last_scheduled_for) VALUES (?, ?) ON CONFLICT DO NOTHING", (job, baseline)
            )
        )
        state = self.job_state(job)
        assert state is not None
        return state

    def acquire_job_lock(self, job: str, owner: str, now: float, ttl_s: float) -> bool:
        """Take the job's lock row unless another owner holds an unexpired one: one upsert statement, so
        two replicas racing for it on PostgreSQL cannot both win (the conflicting row is locked and its
        condition re-read)."""

        def fn(c: Conn) -> bool:
            row = c.execute(
                "INSERT INTO job_locks(job, owner, acquired_at, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(job) DO UPDATE SET owner = excluded.owner, acquired_at = excluded.acquired_at, "
                "expires_at = excluded.expires_at "
                "WHERE job_locks.owner = excluded.owner OR job_locks.expires_at <= excluded.acquired_at "
                "RETURNING owner",
                (job, owner, now, now + ttl_s),
            ).fetchone()
            return row is not None

        return self._write(fn)

    def lead(self, role: str, ttl_s: float) -> bool:
        """Hold (take, or renew) the leadership of `role` for ttl_s: True when this replica leads now.
        A lock row like a job's (`leader:<role>`): only one replica wins, and when the leader stops renewing
        another takes over after ttl_s (Discord's gateway runs in the replica that leads `discord`)."""
        return self.acquire_job_lock(f"leader:{role}", self.owner, self.clock(), ttl_s)

    def resign(self, role: str) -> None:
        self.release_job_lock(f"leader:{role}", self.owner)

    def release_job_lock(self, job: str, owner: str) -> None:
        self._write(lambda c: c.execute("DELETE FROM job_locks WHERE job = ? AND owner = ?", (job, owner)))

    def job_lock(self, job: str) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM job_locks WHERE job = ?", (job,))
        return rows[0] if rows else None

    def start_job_run(self, job: str, scheduled_for: float | None, trigger: str, owner: str, at: float) -> int:
        def fn(c: Conn) -> int:
            cur = c.execute(
                "INSERT INTO job_runs(job, scheduled_for, trigger, owner, started_at, outcome) "
                "VALUES (?, ?, ?, ?, ?, 'running') RETURNING id",
                (job, scheduled_for, trigger, owner, at),
            )
            run_id = int(cur.fetchone()[0])
            if scheduled_for is not None:
                c.execute(
                    f"UPDATE job_state SET last_scheduled_for = "
                    f"{c.dialect.greatest}(coalesce(last_scheduled_for, 0), ?) WHERE job = ?",
                    (scheduled_for, job),
                )
            return run_id

        return self._write(fn)

    def finish_job_run(
        self, run_id: int, outcome: str, detail: dict[str, Any], at: float, watermark: float | None = None
    ) -> None:
        def fn(c: Conn) -> None:
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
        def fn(c: Conn) -> int:
            cur = c.execute(
                "INSERT INTO model_changes(ts, action, candidate, current, reason, metrics) VALUES (?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (ts, action, candidate, current, reason, json.dumps(metrics, ensure_ascii=False, sort_keys=True)),
            )
            return int(cur.fetchone()[0])

        return self._write(fn)

    def model_changes(self, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
        where, params = ts_range(since, until)
        rows = self._read(f"SELECT * FROM model_changes {where} ORDER BY id", params)
        for r in rows:
            r["metrics"] = json.loads(r["metrics"]) if r.get("metrics") else {}
        return rows

