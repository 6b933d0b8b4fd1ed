"""bot/status.py: a scheduler job as the status template shows it."""

from __future__ import annotations

from bot.status import job_line


def test_job_line_reads_a_run_and_a_disabled_job() -> None:
    job = {
        "name": "report",
        "cron": "0 9 * * 1",
        "timezone": "UTC",
        "enabled": True,
        "last_started": 0.0,
        "last_ended": None,
        "last_outcome": "",
        "next": 86400.0,
    }
    line = job_line(job)
    assert line["schedule"] == "0 9 * * 1 (UTC)" and line["last"] == "never" and line["summary"] == ""
    assert line["next"] == "1970-01-02 00:00 UTC"
    ran = job_line({**job, "enabled": False, "last_started": 60.0, "last_ended": 120.0, "last_outcome": "ok"})
    assert ran["schedule"] == "off"
    assert ran["last"] == "1970-01-01 00:01 UTC → 1970-01-01 00:02 UTC ok"
