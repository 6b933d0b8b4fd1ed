"""A tiny Prometheus text-format registry (counters, gauges, histograms) — no extra dependency — and the
Bot's own metrics (`BotMetrics`, served on /metrics)."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    esc = [v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for v in values]
    return "{" + ",".join(f'{n}="{v}"' for n, v in zip(names, esc, strict=True)) + "}"


class Counter:
    def __init__(self, name: str, help_: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.labels = name, help_, labels
        self.values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *labels: str, by: float = 1.0) -> None:
        with self._lock:
            self.values[labels] = self.values.get(labels, 0.0) + by

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        out += [f"{self.name}{_labels(self.labels, k)} {v:g}" for k, v in sorted(self.values.items())]
        return out


class Gauge:
    """A value read at scrape time from a callback returning {label values: value}."""

    def __init__(
        self,
        name: str,
        help_: str,
        read: Callable[[], dict[tuple[str, ...], float]],
        labels: tuple[str, ...] = (),
    ) -> None:
        self.name, self.help, self.read, self.labels = name, help_, read, labels

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        try:
            values = self.read()
        except Exception:  # noqa: BLE001 - a failing gauge must not break /metrics
            values = {}
        out += [f"{self.name}{_labels(self.labels, k)} {v:g}" for k, v in sorted(values.items())]
        return out


class Histogram:
    def __init__(self, name: str, help_: str, buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.name, self.help, self.buckets = name, help_, buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.n = 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self.counts[bisect.bisect_left(self.buckets, value)] += 1
            self.total += value
            self.n += 1

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        acc = 0
        for bound, c in zip(self.buckets, self.counts, strict=False):
            acc += c
            out.append(f'{self.name}_bucket{{le="{bound:g}"}} {acc}')
        out.append(f'{self.name}_bucket{{le="+Inf"}} {self.n}')
        out.append(f"{self.name}_sum {self.total:g}")
        out.append(f"{self.name}_count {self.n}")
        return out


class Registry:
    def __init__(self) -> None:
        self.items: list[Counter | Gauge | Histogram] = []

    def add(self, item: Counter | Gauge | Histogram) -> None:
        self.items.append(item)

    def render(self) -> str:
        lines: list[str] = []
        for item in self.items:
            lines += item.render()
        return "\n".join(lines) + "\n"


@dataclass
class BotMetrics:
    """The Bot's counters and histograms, each added to `registry` (the Bot adds its gauges)."""

    registry: Registry = field(default_factory=Registry)
    events: Counter = field(
        default_factory=lambda: Counter("so8t_events_total", "Events received by outcome", ("outcome",))
    )
    decisions: Counter = field(
        default_factory=lambda: Counter(
            "so8t_decisions_total", "Safety decisions by verdict and category", ("verdict", "category")
        )
    )
    opened: Counter = field(
        default_factory=lambda: Counter("so8t_escalations_opened_total", "Escalations opened", ("domain", "kind"))
    )
    resolved: Counter = field(
        default_factory=lambda: Counter("so8t_escalations_resolved_total", "Escalations resolved", ("domain", "action"))
    )
    errors: Counter = field(
        default_factory=lambda: Counter("so8t_errors_total", "Failures handled (fail closed)", ("kind",))
    )
    answers: Counter = field(
        default_factory=lambda: Counter(
            "so8t_answers_total", "ALLOW answers by what the answer guard did (ok, cut, fallback)", ("outcome",)
        )
    )
    response_stops: Counter = field(
        default_factory=lambda: Counter(
            "so8t_response_stops_total", "ALLOW answers stopped by the response head", ("verdict", "category")
        )
    )
    grounded: Counter = field(
        default_factory=lambda: Counter(
            "so8t_grounded_answers_total",
            "Answers written from the team's documents: the model's (checked) or the documents' own sentences "
            "because it stated a fact they do not hold (extractive_fact), shared nothing with them "
            "(extractive_overlap) or was not usable (extractive_empty)",
            ("outcome",),
        )
    )
    kb_saved: Counter = field(
        default_factory=lambda: Counter(
            "so8t_kb_saved_total", "Reviewers' answers saved to the knowledge base", ("domain",)
        )
    )
    decide_s: Histogram = field(default_factory=lambda: Histogram("so8t_decide_seconds", "Safety decision latency"))
    answer_s: Histogram = field(default_factory=lambda: Histogram("so8t_answer_seconds", "Answer generation latency"))
    handle_s: Histogram = field(
        default_factory=lambda: Histogram("so8t_handle_seconds", "Received to finished, per message")
    )

    def __post_init__(self) -> None:
        for item in (
            self.events,
            self.decisions,
            self.opened,
            self.resolved,
            self.errors,
            self.answers,
            self.response_stops,
            self.grounded,
            self.kb_saved,
            self.decide_s,
            self.answer_s,
            self.handle_s,
        ):
            self.registry.add(item)
