"""What `/so8t status`, `so8t status` and `/healthz` report of a running Bot: model, licences, queue,
open cases, jobs, and whether each part is healthy."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bot.errors import StoreError

if TYPE_CHECKING:
    from bot.core import Bot


def licences(bot: Bot) -> str:
    """The model licences, for `/so8t status` (Gemma is under the Gemma Terms, not Apache-2.0)."""
    try:
        info = bot.runtime.info()
    except Exception:  # noqa: BLE001 - status must answer even when the runtime cannot
        return ""
    parts = [str(info.get("licence") or "")]
    if info.get("answer_licence") and info.get("answer_licence") != info.get("licence"):
        parts.append(f"answers: {info['answer_licence']}")
    return " · ".join(p for p in parts if p)


def status(bot: Bot) -> dict[str, Any]:
    """The facts of the status template: model, head, licences, queue, open cases, jobs."""
    try:
        open_by_domain = bot.store.escalation_counts()
    except StoreError:
        open_by_domain = {}
    return {
        "model_id": getattr(bot.runtime, "model_id", ""),
        "head_id": getattr(bot.runtime, "head_id", ""),
        "licence": licences(bot),
        "queue": len(bot.queue),
        "busy": bot.model.busy,
        "open_total": sum(open_by_domain.values()),
        "open_by_domain": open_by_domain,
        "jobs": [job_line(j) for j in bot.jobs_status()] if bot.jobs_status is not None else [],
    }


def health(bot: Bot) -> dict[str, Any]:
    """`/healthz`: ok when the model, the store, every adapter and the worker are up."""
    store_problem = bot.store.check_writable()
    adapters = {name: bool(a.connected) for name, a in bot.adapters.items()}
    model_ok = bot.runtime is not None and bool(getattr(bot.runtime, "model_id", "x") is not None)
    ok = model_ok and store_problem is None and all(adapters.values()) and bot.started
    return {
        "ok": ok,
        "model": model_ok,
        "store": store_problem is None,
        "store_error": store_problem,
        "adapters": adapters,
        "worker": bot.started,
        "queue": len(bot.queue),
    }


def job_line(job: dict[str, Any]) -> dict[str, Any]:
    """One job for the status template: schedule, last run (start, end, outcome), next run."""

    def when(ts: float | None) -> str:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "—"

    return {
        "name": job["name"],
        "schedule": f"{job['cron']} ({job['timezone']})" if job["enabled"] else "off",
        "last": (
            f"{when(job['last_started'])} → {when(job['last_ended'])} {job['last_outcome']}"
            if job["last_started"]
            else "never"
        ),
        "summary": job.get("last_summary") or "",
        "next": when(job["next"]) if job["next"] else "—",
    }
