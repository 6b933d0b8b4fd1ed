"""The scheduled jobs themselves: weekly report, reviewed escalations -> feedback file, retrain + gate,
and the daily audit job (a signed checkpoint of the chain, originals purged past retention).

Each is `async (JobRun) -> JobResult` over a JobContext (store, settings, adapters to post through),
so the scheduler, `so8t jobs run NAME` and tests all run the same code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Config
from bot.errors import StoreError
from bot.events import Escalation
from bot.pii import mask
from bot.reports import ACTION_LABEL, build_report, previous_week, render, summary_line, week_of
from bot.settings import BotSettings
from bot.store import AuditStore, kb_path
from serve.ops_settings import OpsSettings
from serve.scheduler import JobFn, JobResult, JobRun

if TYPE_CHECKING:
    from bot.checkpoint import Checkpoint

log = logging.getLogger("so8t.jobs")


@dataclass
class JobContext:
    store: AuditStore
    config: Config
    settings: BotSettings
    ops: OpsSettings
    adapters: Mapping[str, Any] = field(default_factory=dict)  # platform -> Adapter (post, post_file)
    versions: Callable[[], dict[str, Any]] = dict  # model / head / adapter in use
    retrain_runner: Callable[[JobContext, JobRun], dict[str, Any]] | None = None  # tests swap the model part


# ---------------------------------------------------------------------------------------------- report
def write_report_files(ctx: JobContext, label: str, since: float, until: float, now: float) -> tuple[Any, list[Path]]:
    report = build_report(ctx.store, since, until, now=now, label=label, versions=ctx.versions())
    out_dir = Path(ctx.ops.reports.dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for fmt in ctx.ops.reports.formats:
        path = out_dir / f"so8t-report-{label}.{fmt}"
        path.write_text(render(report, fmt), encoding="utf-8")
        files.append(path)
    return report, files


async def report_job(ctx: JobContext, run: JobRun) -> JobResult:
    """Report the last complete ISO week: files under reports.dir, summary + file to each admin channel."""
    label, since, until = previous_week(run.now, ctx.ops.reports.timezone)
    report, files = write_report_files(ctx, label, since, until, run.now)
    checkpoint, cp = _checkpoint(ctx, run.now)
    summary = summary_line(report)
    if cp is not None:  # a copy off the host: paste it into a file for `so8t audit verify --checkpoint`
        summary += f"\nAudit checkpoint (keep a copy): {cp.line()}"
    by_ext = {p.suffix: p for p in files}
    attach = by_ext.get(".html") or by_ext.get(".md")
    posted, failed = [], []
    for platform, channel in ctx.ops.reports.channels.items():
        adapter = ctx.adapters.get(platform)
        if adapter is None:
            continue
        key = f"report:{label}:{platform}"
        try:
            post_file = getattr(adapter, "post_file", None)
            if post_file is not None and attach is not None:
                await post_file(channel, summary, attach.name, attach.read_bytes(), key)
            else:
                await adapter.post(channel, summary, key, kind="notice")
            posted.append(platform)
        except Exception as exc:  # noqa: BLE001 - the files are written; say which post failed
            log.warning("posting the report to %s failed (%s)", platform, type(exc).__name__)
            failed.append(platform)
    detail: dict[str, Any] = {"week": label, "files": [str(p) for p in files], "posted": posted, "post_failed": failed}
    detail["checkpoint"] = checkpoint
    outcome = "ok" if not failed else "failed"
    return JobResult(
        outcome,
        f"{label}: {report.total} requests, {len(files)} file(s), posted to {', '.join(posted) or 'no channel'}",
        detail,
    )


# ---------------------------------------------------------------------------------------------- audit
def checkpoint_now(ctx: JobContext, now: float) -> str:
    """Append a signed checkpoint of the chain head (every report run and the audit job); one line
    saying what happened (skipped without SO8T_AUDIT_KEY, refused on a broken chain)."""
    return _checkpoint(ctx, now)[0]


def _checkpoint(ctx: JobContext, now: float) -> tuple[str, Checkpoint | None]:
    from bot.checkpoint import checkpoint_path, write_checkpoint

    if ctx.store.audit_key is None:
        return "skipped: SO8T_AUDIT_KEY is not set", None
    path = checkpoint_path(ctx.ops.audit.checkpoint)
    try:
        cp = write_checkpoint(ctx.store, path, now)
    except StoreError as exc:
        log.error("audit checkpoint failed: %s", exc)
        return f"failed: {exc}", None
    return f"{cp.rows} row(s) to {path}", cp


def purge_now(ctx: JobContext, now: float) -> dict[str, int]:
    """Forget originals older than privacy.retention_days (encrypted requests, never-finished events)."""
    return ctx.store.purge(now - ctx.ops.privacy.retention_days * 86400.0, now)


async def audit_job(ctx: JobContext, run: JobRun) -> JobResult:
    """Checkpoint the chain head outside the store, then purge originals past retention."""
    checkpoint = checkpoint_now(ctx, run.now)
    purged = purge_now(ctx, run.now)
    outcome = "failed" if checkpoint.startswith("failed") else "ok"
    summary = f"checkpoint {checkpoint}; purged {purged['requests']} original(s), {purged['events']} stale event(s)"
    return JobResult(outcome, summary[:500], {"checkpoint": checkpoint, "purged": purged})


# ---------------------------------------------------------------------------------------------- knowledge
async def kb_job(ctx: JobContext, run: JobRun) -> JobResult:
    """Re-index the knowledge folders into the store: changed files only, removed files disappear."""
    from kb import ensure_index

    folders = ctx.config.knowledge.folders
    if not folders:
        return JobResult("skipped", "no knowledge folders configured", {})
    report = await asyncio.to_thread(ensure_index, str(kb_path(ctx.settings.db_path)), folders)
    if report is None:
        return JobResult("failed", "the knowledge index could not be updated (see the log)", {})
    return JobResult("ok", report.summary()[:500], {})


# ---------------------------------------------------------------------------------------------- feedback
def reviewer_role(settings: BotSettings, platform: str, reviewer: str, domain: str) -> str:
    if settings.roles.is_admin(platform, reviewer):
        return "admin"
    return f"reviewer:{domain}"


def feedback_row(settings: BotSettings, esc: Escalation) -> dict[str, Any] | None:
    """A reviewed example from a resolved escalation: masked text, label from the reviewer's action."""
    from training.feedback import make_row

    res = esc.resolution
    if res is None or res.action not in ACTION_LABEL:
        return None
    text = mask(esc.text_masked).text.strip()  # stored masked; masking again costs nothing and is safe
    if not text:
        return None
    return make_row(
        text=text,
        lang=esc.lang,
        label=ACTION_LABEL[res.action],
        category=esc.category or "none",
        domain=esc.domain,
        reviewer_role=reviewer_role(settings, esc.platform, res.reviewer, esc.domain),
        date=time.strftime("%Y-%m-%d", time.gmtime(res.at)),
        escalation_kind=esc.kind,
        model_verdict=esc.verdict,
    )


async def feedback_job(ctx: JobContext, run: JobRun) -> JobResult:
    """Every escalation resolved since the last run -> training/data/feedback/<week>.jsonl (deduped)."""
    from training.feedback import append_feedback

    escs = ctx.store.resolved_since(run.last_watermark, run.now)
    rows = [r for r in (feedback_row(ctx.settings, e) for e in escs) if r is not None]
    week = week_of(run.now, ctx.ops.reports.timezone)
    directory = Path(ctx.ops.feedback.dir)
    added, dupes = append_feedback(rows, directory, week)
    path = directory / f"{week}.jsonl"
    return JobResult(
        "ok",
        f"{len(escs)} resolved case(s): {added} new example(s), {dupes} duplicate(s)",
        {"resolved": len(escs), "added": added, "duplicates": dupes, "file": str(path) if added else None},
        watermark=run.now,
    )


# ---------------------------------------------------------------------------------------------- retrain
def default_retrain(ctx: JobContext, run: JobRun) -> dict[str, Any]:
    """Versioned dataset (seed + feedback) -> candidate head -> gate -> promote or keep (blocking)."""
    from runtime.llama import LlamaRuntime
    from training.head_fit import HeadConfig
    from training.head_registry import HeadRegistry
    from training.retrain import retrain
    from training.versioned import build_versioned

    data_path, manifest = build_versioned(
        feedback_dir=Path(ctx.ops.feedback.dir), versions_dir=Path(ctx.ops.retrain.versions_dir), now=run.now
    )
    source = LlamaRuntime(ctx.config.model, with_head=False)
    registry = HeadRegistry(Path(ctx.ops.retrain.models_dir))
    current = source.head_path(ctx.config.model)  # the served head (with the default adapter: its head)
    out = retrain(
        source,
        dataset_path=data_path,
        registry=registry,
        current_head_path=current,
        work_dir=Path(ctx.ops.retrain.models_dir) / "work",
        threshold=ctx.config.safety_threshold,
        max_refuse_drop=ctx.ops.retrain.max_refuse_recall_drop,
        cfg=HeadConfig(epochs=ctx.ops.retrain.epochs),
    )
    out["dataset_version"] = manifest["version"]
    return out


async def retrain_job(ctx: JobContext, run: JobRun) -> JobResult:
    runner = ctx.retrain_runner or default_retrain
    out = await asyncio.to_thread(runner, ctx, run)
    action = "promoted" if out["promoted"] else "rejected"
    ctx.store.record_model_change(
        run.now,
        action,
        str(out.get("candidate", "")),
        str(out.get("current", "")),
        str(out["reason"]),
        dict(out.get("metrics", {})),
    )
    summary = f"candidate {out.get('candidate')} {action}: {out['reason']}"
    if out["promoted"]:
        summary += f" (serve it with model.head: {out.get('head_path')})"
    return JobResult("ok", summary[:500], {k: v for k, v in out.items() if k != "metrics"})


def make_jobs(ctx: JobContext) -> dict[str, JobFn]:
    async def report(run: JobRun) -> JobResult:
        return await report_job(ctx, run)

    async def feedback(run: JobRun) -> JobResult:
        return await feedback_job(ctx, run)

    async def retrain(run: JobRun) -> JobResult:
        return await retrain_job(ctx, run)

    async def audit(run: JobRun) -> JobResult:
        return await audit_job(ctx, run)

    async def knowledge(run: JobRun) -> JobResult:
        return await kb_job(ctx, run)

    return {"report": report, "feedback": feedback, "retrain": retrain, "audit": audit, "kb": knowledge}
