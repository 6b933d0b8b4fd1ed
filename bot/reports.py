"""Audit reports: counts by verdict, category and language over a time range (Markdown or CSV)."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass

from bot.audit import AuditStore


@dataclass(frozen=True)
class Report:
    since: float | None
    until: float | None
    counts: dict[str, dict[str, int]]
    open_escalations: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.get("verdict", {}).values())


def build_report(store: AuditStore, since: float | None = None, until: float | None = None) -> Report:
    return Report(since, until, store.counts(since, until), store.escalation_counts())


def _when(ts: float | None, default: str) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts is not None else default


def render_markdown(report: Report) -> str:
    lines = [
        "# SO8T audit report",
        "",
        f"Period: {_when(report.since, 'beginning')} — {_when(report.until, 'now')}  ",
        f"Decisions: {report.total}",
    ]
    for title, key in (("Verdict", "verdict"), ("Category", "category"), ("Language", "lang")):
        lines += ["", f"| {title} | Count |", "|---|---:|"]
        rows = report.counts.get(key, {})
        lines += [f"| {k} | {v} |" for k, v in sorted(rows.items(), key=lambda kv: (-kv[1], kv[0]))] or [
            "| — | 0 |"
        ]
    open_total = sum(report.open_escalations.values())
    lines += ["", f"Open escalations: {open_total}"]
    lines += [f"- {d}: {n}" for d, n in sorted(report.open_escalations.items())]
    return "\n".join(lines) + "\n"


def render_csv(report: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["dimension", "value", "count"])
    for key in ("verdict", "category", "lang"):
        for k, v in sorted(report.counts.get(key, {}).items()):
            w.writerow([key, k, v])
    for d, n in sorted(report.open_escalations.items()):
        w.writerow(["open_escalations", d, n])
    return buf.getvalue()
