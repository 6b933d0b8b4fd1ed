"""Audit reports over a time range, read straight from the audit store (decisions, escalations, model
changes): requests by verdict / category / language / platform / channel, escalations opened / resolved /
overdue with time to resolution, reviewer agreement, appeals, latency, change against the previous period,
and the versions in use. Rendered as Markdown (chat), HTML with inline SVG charts, CSV and JSON.

Texts appear only as stored: PII-masked (the store never keeps an original)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.commands import parse_time
from bot.store import AuditStore
from runtime.stats import percentile

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "report"
DIMENSIONS = ("verdict", "category", "lang", "platform", "channel")
# what a reviewer's action says the right verdict was
ACTION_LABEL = {"decline": "REFUSE", "approve": "ALLOW", "answer": "ESCALATE"}
# Reviewer agreement is over the cases where the model gave its own verdict and a reviewer then upheld or
# overturned it (appeals of a refusal). An ESCALATE is the model deferring to a person: whatever the
# reviewer decides is the decision it asked for, so those cases count as reviewed but are not rated.
RATED_VERDICTS = ("ALLOW", "REFUSE")
AGREEMENT_DEFINITION = (
    "Agreement is the share of rated cases where the reviewer upheld the model's own verdict (an appeal "
    "declined upholds a refusal; approved or answered overturns it). Escalations are the model deferring to "
    "a person: they count as reviewed, not as rated."
)
FORMATS = ("md", "html", "csv", "json")


# ---------------------------------------------------------------------------------------------- periods
def week_range(week: str, tz: str = "UTC") -> tuple[float, float]:
    """[Monday 00:00, next Monday 00:00) of an ISO week like 2026-W47 in time zone `tz`."""
    try:
        year_s, _, num_s = week.strip().upper().partition("-W")
        start = date.fromisocalendar(int(year_s), int(num_s), 1)
    except ValueError:
        raise ValueError(f"cannot read week {week!r}: use an ISO week like 2026-W47") from None
    zone = ZoneInfo(tz)
    since = datetime(start.year, start.month, start.day, tzinfo=zone)
    until = since + timedelta(days=7)
    return since.timestamp(), until.timestamp()


def week_of(ts: float, tz: str = "UTC") -> str:
    y, w, _ = datetime.fromtimestamp(ts, ZoneInfo(tz)).isocalendar()
    return f"{y}-W{w:02d}"


def previous_week(now: float, tz: str = "UTC") -> tuple[str, float, float]:
    """The last complete ISO week before `now` (what the weekly job reports on Monday morning)."""
    label = week_of(now - 7 * 86400, tz)
    since, until = week_range(label, tz)
    return label, since, until


@dataclass(frozen=True)
class Report:
    since: float | None
    until: float | None
    counts: dict[str, dict[str, int]]
    open_escalations: dict[str, int]
    label: str = ""
    generated_at: float = 0.0
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    top_refusals: list[tuple[str, int]] = field(default_factory=list)
    escalations: dict[str, Any] = field(default_factory=dict)
    agreement: dict[str, dict[str, Any]] = field(default_factory=dict)
    appeals: dict[str, int] = field(default_factory=dict)
    previous: dict[str, Any] | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    model_changes: list[dict[str, Any]] = field(default_factory=list)
    overdue_cases: list[dict[str, Any]] = field(default_factory=list)
    oldest_open_at: float | None = None  # when the oldest escalation still open was opened
    answers: dict[str, int] = field(default_factory=dict)  # ALLOW answers by outcome (guard / response head)
    response_stops: dict[str, int] = field(default_factory=dict)  # stopped answers by resulting verdict

    @property
    def total(self) -> int:
        return sum(self.counts.get("verdict", {}).values())

    def change(self) -> dict[str, Any] | None:
        """Deltas against the previous period of the same length (None when there is none)."""
        if self.previous is None:
            return None
        prev = self.previous
        verdicts = sorted(set(self.counts.get("verdict", {})) | set(prev.get("verdict", {})))
        return {
            "total": self.total - int(prev.get("total", 0)),
            "verdict": {
                v: self.counts.get("verdict", {}).get(v, 0) - int(prev.get("verdict", {}).get(v, 0)) for v in verdicts
            },
            "escalations_opened": sum(self.escalations.get("opened", {}).values())
            - int(prev.get("escalations_opened", 0)),
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total"] = self.total
        d["change"] = self.change()
        d["top_refusals"] = [{"category": c, "count": n} for c, n in self.top_refusals]
        return d


def _agreement_cell() -> dict[str, Any]:
    return {"approve": 0, "decline": 0, "answer": 0, "n": 0, "rated": 0, "agree": 0, "disagree": 0}


def _rate(cell: dict[str, Any]) -> float | None:
    return round(cell["agree"] / cell["rated"], 3) if cell["rated"] else None


def agreement_total(report: Report) -> dict[str, Any]:
    """The agreement cells of every category added up (with its rate, None when nothing was rated)."""
    total = _agreement_cell()
    for cell in report.agreement.values():
        for k in total:
            total[k] += int(cell.get(k, 0))
    total["rate"] = _rate(total)
    return total


def agreement_text(cell: dict[str, Any]) -> str:
    """A cell's agreement as a reader can take it: the rate with its n, or n/a when nothing was rated."""
    if not cell.get("rated"):
        return "n/a"
    disagree = int(cell.get("disagree", 0))
    detail = "no disagreements recorded" if not disagree else f"{disagree} disagreement{'s' if disagree > 1 else ''}"
    return f"{cell['rate'] * 100:.0f}% (n={cell['rated']}, {detail})"


def agreement_note(report: Report) -> str:
    """The overall figure, said honestly: what it is computed over, or why it cannot be."""
    t = agreement_total(report)
    if not t["n"]:
        return "Agreement: n/a (no reviewed cases in this period)."
    if not t["rated"]:
        return (
            f"Agreement: n/a. All {t['n']} reviewed case{'s were' if t['n'] > 1 else ' was'} escalated by the "
            "model to a person, so there was no model verdict to agree or disagree with."
        )
    return f"Agreement overall: {agreement_text(t)}."


def _decision_rows(store: AuditStore, since: float | None, until: float | None) -> list[dict[str, Any]]:
    return [r for r in store.export(since, until) if r["kind"] == "decision"]


def _counts(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for dim in (*DIMENSIONS, "reason"):
        c = Counter(str(r.get(dim)) for r in rows)
        out[dim] = dict(sorted(c.items()))
    return out


def build_report(
    store: AuditStore,
    since: float | None = None,
    until: float | None = None,
    *,
    now: float | None = None,
    label: str = "",
    versions: dict[str, Any] | None = None,
    compare: bool = True,
    overdue_list: int = 20,
) -> Report:
    """Everything the report shows, computed from the store's rows in [since, until)."""
    now = time.time() if now is None else now
    end = until if until is not None else now
    rows = _decision_rows(store, since, until)
    counts = _counts(rows)
    lat = [float(r["latency_ms"] or 0.0) for r in rows]
    refusals = Counter(str(r["category"]) for r in rows if r["verdict"] == "REFUSE")

    def inside(ts: Any) -> bool:  # up to `now` inclusive when the period is open-ended
        return ts is not None and (since is None or ts >= since) and (ts < end or (until is None and ts <= end))

    escs = store.escalation_rows(since, end)
    opened: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    overdue: Counter[str] = Counter()
    ttr: dict[str, list[float]] = defaultdict(list)
    agreement: dict[str, dict[str, Any]] = {}
    appeals = {"opened": 0, "resolved": 0, "upheld": 0, "overturned": 0}
    overdue_cases: list[dict[str, Any]] = []
    for e in escs:
        if inside(e["opened_at"]):
            opened[e["domain"]] += 1
            if e["kind"] == "appeal":
                appeals["opened"] += 1
        done_in = inside(e["resolved_at"])
        if done_in:
            resolved[e["domain"]] += 1
            ttr[e["domain"]].append(float(e["resolved_at"]) - float(e["opened_at"]))
            if e["kind"] in ("escalate", "appeal") and e["action"] in ACTION_LABEL:
                cell = agreement.setdefault(e["category"] or "none", _agreement_cell())
                cell[e["action"]] += 1
                cell["n"] += 1
                if e["verdict"] in RATED_VERDICTS:  # the model's own verdict, which the reviewer upholds or not
                    cell["rated"] += 1
                    agrees = ACTION_LABEL[e["action"]] == e["verdict"]
                    cell["agree" if agrees else "disagree"] += 1
            if e["kind"] == "appeal":
                appeals["resolved"] += 1
                appeals["upheld" if e["action"] == "decline" else "overturned"] += 1
        still_open_at_end = e["resolved_at"] is None or e["resolved_at"] >= end
        if e["opened_at"] < end and still_open_at_end and e["deadline"] < end:
            overdue[e["domain"]] += 1
            if len(overdue_cases) < overdue_list:
                text = str(e["text_masked"] or "")
                overdue_cases.append(
                    {
                        "id": e["id"],
                        "domain": e["domain"],
                        "kind": e["kind"],
                        "overdue_h": round((end - float(e["deadline"])) / 3600.0, 1),
                        "text": text if len(text) <= 120 else text[:119] + "…",
                    }
                )
    for cell in agreement.values():
        cell["rate"] = _rate(cell)
    domains = sorted(set(opened) | set(resolved) | set(overdue))
    escalations = {
        "opened": {d: opened[d] for d in domains if opened[d]},
        "resolved": {d: resolved[d] for d in domains if resolved[d]},
        "overdue": {d: overdue[d] for d in domains if overdue[d]},
        "ttr_s": {d: {"n": len(v), "p50": percentile(v, 50), "p90": percentile(v, 90)} for d, v in sorted(ttr.items())},
    }
    previous = None
    if compare and since is not None:
        p_since, p_until = since - (end - since), since
        prev_rows = _decision_rows(store, p_since, p_until)
        prev_esc = [e for e in store.escalation_rows(p_since, p_until) if p_since <= e["opened_at"] < p_until]
        previous = {
            "since": p_since,
            "until": p_until,
            "total": len(prev_rows),
            "verdict": dict(sorted(Counter(str(r["verdict"]) for r in prev_rows).items())),
            "escalations_opened": len(prev_esc),
        }
    in_use: dict[str, Counter[str]] = {"model": Counter(), "head": Counter()}
    for r in rows:
        in_use["model"][str(r.get("model_id") or "?")] += 1
        in_use["head"][str(r.get("head_id") or "?")] += 1
    current = {k: v for k, v in (versions or {}).items() if v is not None or k == "adapter"}
    if not current.get("model") and rows:  # nothing better known: what the period's last decision recorded
        last = max(rows, key=lambda r: (r.get("ts") or 0, r.get("id") or 0))
        current = {
            "model": last.get("model_id") or None,
            "head": last.get("head_id") or None,
            "source": "as recorded on the period's last decision",
        }
    ver = {
        "current": current,
        "models_seen": dict(in_use["model"]),
        "heads_seen": dict(in_use["head"]),
    }
    return Report(
        since=since,
        until=until,
        counts=counts,
        open_escalations=store.escalation_counts(),
        oldest_open_at=min((e.opened_at for e in store.open_escalations()), default=None),
        label=label,
        generated_at=now,
        latency_ms={"p50": percentile(lat, 50), "p95": percentile(lat, 95)},
        top_refusals=refusals.most_common(5),
        escalations=escalations,
        agreement=dict(sorted(agreement.items())),
        appeals=appeals,
        previous=previous,
        versions=ver,
        model_changes=store.model_changes(since, end),
        overdue_cases=overdue_cases,
        answers=store.answer_outcomes(since, until),
        response_stops=store.response_counts(since, until),
    )


# ---------------------------------------------------------------------------------------------- versions
def served_versions(runtime: Any) -> dict[str, Any]:
    """The model, heads and adapter as the runtime serves them (its model_id, head_id and info()), not as
    the config spells them: an adapter picked from the backbone's manifest has no config value. "adapter"
    is None when the runtime serves none, and left out when the runtime does not say."""
    try:
        info = dict(runtime.info())
    except Exception:  # noqa: BLE001 - a report must render even when the runtime cannot describe itself
        info = {}
    out: dict[str, Any] = {
        "model": str(getattr(runtime, "model_id", "") or info.get("model_id") or "") or None,
        "head": str(getattr(runtime, "head_id", "") or info.get("head") or "") or None,
        "source": "served",
    }
    if "adapter" in info:
        out["adapter"] = _adapter_dir(info["adapter"])
    if info.get("hazard_head"):
        out["hazard_head"] = str(info["hazard_head"])
    return out


def described_versions(description: dict[str, Any]) -> dict[str, Any]:
    """Versions from runtime.llama.describe_model (what the config serves, read from the files without
    loading the model): for `so8t report` run outside the bot."""
    if not description.get("model_id"):
        return {}
    out: dict[str, Any] = {
        "model": description["model_id"],
        "head": description.get("head_id"),
        "adapter": _adapter_dir(description.get("adapter")),
        "source": "as configured (read from the model files)",
    }
    if description.get("hazard_head_id"):
        out["hazard_head"] = description["hazard_head_id"]
    return out


def _adapter_dir(adapter: Any) -> str | None:
    """An adapter's directory (the runtime names its adapter.gguf file); None for no adapter."""
    if not adapter:
        return None
    path = Path(str(adapter))
    return str(path.parent) if path.suffix == ".gguf" else str(path)


def versions_line(report: Report) -> str:
    cur = report.versions.get("current", {})
    parts = [f"model {cur.get('model') or '?'}", f"head {cur.get('head') or '?'}"]
    if cur.get("hazard_head"):
        parts.append(f"hazard head {cur['hazard_head']}")
    if "adapter" in cur:
        parts.append(f"adapter {cur['adapter'] or 'none'}")
    source = f" ({cur['source']})" if cur.get("source") else ""
    return "Versions" + source + ": " + ", ".join(parts)


# ---------------------------------------------------------------------------------------------- chat
VERDICT_ORDER = ("ALLOW", "REFUSE", "ESCALATE")
_AGE_UNITS = {"en": ("min", "h", "d"), "ja": ("分", "時間", "日")}


def age_text(seconds: float, lang: str) -> str:
    """A duration for a chat line: 25 min, 3.5 h, 2.1 d (分 / 時間 / 日 in Japanese)."""
    minute, hour, day = _AGE_UNITS.get(lang, _AGE_UNITS["en"])
    sep = "" if lang == "ja" else " "
    if seconds < 3600:
        return f"{max(seconds, 0) / 60:.0f}{sep}{minute}"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f}{sep}{hour}"
    return f"{seconds / 86400:.1f}{sep}{day}"


def summary_facts(
    report: Report, tz: str = "UTC", lang: str = "en", label_category: Any = None, top: int = 3
) -> dict[str, Any]:
    """What the chat summary of `/so8t report` says (templates/bot/report_summary.*.j2): the period in
    the reports' time zone, requests per verdict with the change, open cases with the oldest's age, and
    the top categories (`label_category(key, lang)` names them in the asker's language)."""
    zone = ZoneInfo(tz)

    def local(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M") if ts is not None else ""

    verdicts = report.counts.get("verdict", {})
    order = list(VERDICT_ORDER) + sorted(v for v in verdicts if v not in VERDICT_ORDER)
    change = report.change()
    categories = [(c, n) for c, n in _sorted(report.counts.get("category", {})) if c not in ("none", "", "None")]
    name = label_category or (lambda key, _lang: key)
    oldest = report.oldest_open_at
    return {
        "label": report.label,
        "since": local(report.since),
        "until": local(report.until),
        "tz": tz,
        "total": report.total,
        "change": _signed(change["total"]) if change is not None else None,
        "verdicts": [(v, verdicts.get(v, 0)) for v in order],
        "open_total": sum(report.open_escalations.values()),
        "open_by_domain": _sorted(report.open_escalations),
        "oldest_age": age_text(report.generated_at - oldest, lang) if oldest is not None else "",
        "top": [(name(c, lang), n) for c, n in categories[:top]],
    }


def report_filename(report: Report, ext: str = "md") -> str:
    stamp = report.label or time.strftime("%Y%m%d-%H%M", time.gmtime(report.generated_at))
    return f"so8t-report-{stamp}.{ext}"


def _period_bounds(report: Report) -> tuple[int | None, int]:
    """The period in whole seconds, widened (never narrowed); an open end includes the report's `now`
    (the end is exclusive)."""
    since = math.floor(report.since) if report.since is not None else None
    if report.until is not None:
        return since, math.ceil(report.until)
    return since, math.floor(report.generated_at) + 1


def report_query(report: Report) -> str:
    """The query string of the console's report page for this report's period (?week= or ?since=&until=)."""
    if report.label:
        return f"week={report.label}"
    since, until = _period_bounds(report)
    return (f"since={since}&" if since is not None else "") + f"until={until}"


def report_cli_args(report: Report) -> str:
    """`so8t report` options for this report's period (UTC, as the CLI reads a time without a zone)."""
    if report.label:
        return f"--week {report.label}"
    since, until = _period_bounds(report)

    def iso(ts: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))

    return (f"--since {iso(since)} " if since is not None else "") + f"--until {iso(until)}"


def parse_report_query(query: Any, now: float, tz: str = "UTC") -> tuple[float | None, float | None, str]:
    """(since, until, label) from the console report page's query: week=2026-W47 (in `tz`), or since /
    until as seconds since the epoch, an ISO date/datetime (UTC when no zone) or 7d. ValueError: one line."""
    week = str(query.get("week") or "").strip()
    if week:
        if not re.fullmatch(r"\d{4}-[Ww]\d{1,2}", week):
            raise ValueError(f"cannot read week {week[:20]!r}: use an ISO week like 2026-W47")
        since, until = week_range(week, tz)
        return since, until, week.upper()

    def when(key: str) -> float | None:
        raw = str(query.get(key) or "").strip()
        if not raw:
            return None
        if raw.isdigit():
            return float(raw)
        return parse_time(raw, now)

    return when("since"), when("until"), ""


# ---------------------------------------------------------------------------------------------- text
def _when(ts: float | None, default: str) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts is not None else default


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f} ms"


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def _sorted(d: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))


def title(report: Report) -> str:
    return f"SO8T audit report {report.label}".strip()


def summary_line(report: Report) -> str:
    """One line for a chat post: totals, verdicts, escalations."""
    v = report.counts.get("verdict", {})
    esc = report.escalations
    change = report.change()
    delta = f" ({_signed(change['total'])} vs previous)" if change else ""
    return (
        f"{title(report)}: {report.total} requests{delta} · ALLOW {v.get('ALLOW', 0)} · "
        f"REFUSE {v.get('REFUSE', 0)} · ESCALATE {v.get('ESCALATE', 0)} · escalations opened "
        f"{sum(esc.get('opened', {}).values())}, resolved {sum(esc.get('resolved', {}).values())}, "
        f"overdue {sum(esc.get('overdue', {}).values())}"
    )


ANSWERS_DEFINITION = (
    "What happened to each ALLOW answer: ok (posted as written), loop_cut / shortened (the answer guard cut "
    'a loop or a budget overrun back to a sentence end), fallback_* (an honest "couldn\'t answer" instead of '
    "a wrong-language, empty or echoed answer), response_flagged (the response head stopped it mid-answer)."
)


def render_markdown(report: Report) -> str:
    lines = [
        "# SO8T audit report" + (f" {report.label}" if report.label else ""),
        "",
        f"Period: {_when(report.since, 'beginning')} — {_when(report.until, 'now')}  ",
        f"Decisions: {report.total}  ",
        f"Latency p50 {_ms(report.latency_ms.get('p50'))}, p95 {_ms(report.latency_ms.get('p95'))}",
    ]
    change = report.change()
    if change is not None and report.previous is not None:
        parts = ", ".join(f"{k} {_signed(n)}" for k, n in change["verdict"].items())
        lines += [
            "",
            f"Change vs previous period: {_signed(change['total'])} requests "
            f"(previous {report.previous['total']}){': ' + parts if parts else ''}",
        ]
    for heading, key in (
        ("Verdict", "verdict"),
        ("Category", "category"),
        ("Language", "lang"),
        ("Platform", "platform"),
        ("Channel", "channel"),
    ):
        lines += ["", f"| {heading} | Count |", "|---|---:|"]
        rows = report.counts.get(key, {})
        lines += [f"| {k} | {v} |" for k, v in _sorted(rows)] or ["| — | 0 |"]
    if report.top_refusals:
        lines += ["", "Top refusal categories: " + ", ".join(f"{c} {n}" for c, n in report.top_refusals)]
    lines += ["", "## Answers", "", ANSWERS_DEFINITION, "", "| Outcome | Count |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in _sorted(report.answers)] or ["| — | 0 |"]
    if report.response_stops:
        stops = ", ".join(f"{k} {n}" for k, n in sorted(report.response_stops.items()))
        lines += ["", f"Answers stopped by the response head: {stops} (audited as `response` rows)."]
    esc = report.escalations
    domains = sorted(set(esc.get("opened", {})) | set(esc.get("resolved", {})) | set(esc.get("overdue", {})))
    lines += ["", "## Escalations", "", "| Domain | Opened | Resolved | Overdue | TTR p50 | TTR p90 |"]
    lines += ["|---|---:|---:|---:|---:|---:|"]
    for d in domains:
        t = esc.get("ttr_s", {}).get(d, {})
        lines.append(
            f"| {d} | {esc['opened'].get(d, 0)} | {esc['resolved'].get(d, 0)} | {esc['overdue'].get(d, 0)} "
            f"| {_dur(t.get('p50'))} | {_dur(t.get('p90'))} |"
        )
    if not domains:
        lines.append("| — | 0 | 0 | 0 | — | — |")
    lines += ["", "## Reviewer agreement with the model", "", AGREEMENT_DEFINITION, ""]
    if report.agreement:
        lines += [
            "| Category | Reviewed | Approve | Decline | Answer | Rated | Agreement |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for cat, a in report.agreement.items():
            lines.append(
                f"| {cat} | {a['n']} | {a['approve']} | {a['decline']} | {a['answer']} | {a['rated']} "
                f"| {agreement_text(a)} |"
            )
        lines.append("")
    lines.append(agreement_note(report))
    ap = report.appeals
    lines += [
        "",
        f"Appeals: {ap.get('opened', 0)} opened, {ap.get('resolved', 0)} resolved "
        f"({ap.get('upheld', 0)} upheld, {ap.get('overturned', 0)} overturned)",
    ]
    if report.overdue_cases:
        lines += ["", "Overdue cases (texts PII-masked):"]
        lines += [
            f"- #{c['id']} {c['domain']} ({c['kind']}), {c['overdue_h']} h overdue: {c['text']}"
            for c in report.overdue_cases
        ]
    open_total = sum(report.open_escalations.values())
    lines += ["", f"Open escalations: {open_total}"]
    lines += [f"- {d}: {n}" for d, n in sorted(report.open_escalations.items())]
    lines += ["", versions_line(report)]
    for what, key in (("Models", "models_seen"), ("Heads", "heads_seen")):
        seen = report.versions.get(key, {})
        if seen:
            lines.append(f"{what} used in the period: " + ", ".join(f"{h} ({n})" for h, n in _sorted(seen)))
    if report.model_changes:
        lines += ["", "Model changes:"]
        lines += [
            f"- {_when(c['ts'], '')}: {c['action']} {c['candidate'] or ''} — {c['reason']}".rstrip()
            for c in report.model_changes
        ]
    return "\n".join(lines) + "\n"


def render_csv(report: Report) -> str:
    """dimension,value,count rows (a spreadsheet pivots them); durations in seconds, latency in ms."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["dimension", "value", "count"])
    for key in DIMENSIONS:
        for k, v in sorted(report.counts.get(key, {}).items()):
            w.writerow([key, k, v])
    for c, n in report.top_refusals:
        w.writerow(["top_refusal", c, n])
    for name in ("opened", "resolved", "overdue"):
        for d, n in sorted(report.escalations.get(name, {}).items()):
            w.writerow([f"escalations_{name}", d, n])
    for d, t in report.escalations.get("ttr_s", {}).items():
        for q in ("p50", "p90"):
            if t.get(q) is not None:
                w.writerow([f"ttr_{q}_s", d, round(t[q], 1)])
    for cat, a in report.agreement.items():
        for k in ("approve", "decline", "answer", "rated", "agree", "disagree"):
            w.writerow([f"review_{k}", cat, a[k]])
    for k, n in report.appeals.items():
        w.writerow(["appeals", k, n])
    for q, ms in report.latency_ms.items():
        if ms is not None:
            w.writerow(["latency_ms", q, round(ms, 1)])
    if report.previous is not None:
        w.writerow(["previous", "total", report.previous["total"]])
    for d, n in sorted(report.open_escalations.items()):
        w.writerow(["open_escalations", d, n])
    return buf.getvalue()


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


# ---------------------------------------------------------------------------------------------- HTML
PALETTE = {"ALLOW": "#2e7d32", "REFUSE": "#c62828", "ESCALATE": "#ef6c00"}


def bar_chart(title_: str, data: Sequence[tuple[str, float]], unit: str = "", width: int = 420) -> dict[str, Any]:
    """Geometry of a horizontal bar chart (drawn as inline SVG by the template; no scripts, no CDN)."""
    row_h, label_w, pad = 22, 130, 6
    top = max((v for _, v in data), default=0) or 1
    bars = []
    for i, (label, value) in enumerate(data):
        w = (width - label_w - 60) * (value / top)
        bars.append(
            {
                "label": label,
                "value": value,
                "text": f"{value:g}{unit}",
                "x": label_w,
                "y": pad + i * row_h,
                "w": round(max(w, 1.0 if value else 0.0), 1),
                "h": row_h - 6,
                "color": PALETTE.get(label, "#1565c0"),
            }
        )
    return {
        "title": title_,
        "bars": bars,
        "width": width,
        "height": pad * 2 + max(1, len(data)) * row_h,
        "label_w": label_w,
    }


# (seconds per unit, suffix, name): the largest value is shown below 120 of its unit
TTR_UNITS = ((1, " s", "seconds"), (60, " min", "minutes"), (3600, " h", "hours"), (86400, " d", "days"))


def ttr_chart(ttr_s: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Time to resolution p50 per domain in a unit that fits the values: cases closed within minutes are
    bars of minutes, not hours rounded down to an empty 0.0 h."""
    p50 = [(d, float(t["p50"])) for d, t in ttr_s.items() if t.get("p50") is not None]
    top = max((v for _, v in p50), default=0.0)
    scale, unit, name = next(u for u in TTR_UNITS if top < u[0] * 120 or u is TTR_UNITS[-1])
    data = [(f"{d} (n={ttr_s[d]['n']})", _scaled(v, scale)) for d, v in p50]
    return bar_chart(f"Time to resolution p50 ({name})", data, unit)


def _scaled(seconds: float, scale: int) -> float:
    """In the chart's unit, one decimal, and never rounded down to zero when it was not zero."""
    value = round(seconds / scale, 1)
    return value if value or seconds <= 0 else 0.1


def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=StrictUndefined,
    )


def render_html(report: Report) -> str:
    esc = report.escalations
    charts = [
        bar_chart("Requests by verdict", _sorted(report.counts.get("verdict", {}))),
        bar_chart("Requests by category", _sorted(report.counts.get("category", {}))),
        bar_chart("Requests by language", _sorted(report.counts.get("lang", {}))),
        bar_chart("Requests by platform", _sorted(report.counts.get("platform", {}))),
        bar_chart("Escalations opened by domain", _sorted(esc.get("opened", {}))),
        ttr_chart(esc.get("ttr_s", {})),
    ]
    domains = sorted(set(esc.get("opened", {})) | set(esc.get("resolved", {})) | set(esc.get("overdue", {})))
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            r=report,
            title=title(report),
            period=f"{_when(report.since, 'beginning')} — {_when(report.until, 'now')}",
            generated=_when(report.generated_at, ""),
            charts=charts,
            domains=domains,
            change=report.change(),
            dur=_dur,
            ms=_ms,
            agreement_text=agreement_text,
            agreement_note=agreement_note(report),
            agreement_definition=AGREEMENT_DEFINITION,
            answers_definition=ANSWERS_DEFINITION,
            versions_line=versions_line(report),
            signed=_signed,
            when=_when,
            sorted_counts=_sorted,
        )
    )


def render(report: Report, fmt: str) -> str:
    if fmt == "md":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "json":
        return render_json(report)
    raise ValueError(f"unknown report format {fmt!r}: use {', '.join(FORMATS)}")
