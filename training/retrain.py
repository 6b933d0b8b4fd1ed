"""Retrain the safety head on a (versioned) dataset and put the candidate through the promotion gate.

The weekly job retrains the head only (`run_train_head`, hidden + n-grams fused) on the served model's
states — through the default adapter when one is served — and the gate compares it with the served
head on the same states; a LoRA re-fine-tune is `so8t train`, run by hand. Needs a state source:
`so8t serve`'s retrain job loads one head-less runtime for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.base import SAFETY_THRESHOLD
from runtime.head import SafetyHead
from training.dataset import read_jsonl
from training.features import StateSource, hidden_states
from training.head_fit import HeadConfig
from training.head_registry import HeadRegistry, gate
from training.train_head import head_metrics, run_train_head


def evaluate_heads(
    source: StateSource, heads: dict[str, SafetyHead], sets: dict[str, list[dict[str, Any]]], threshold: float
) -> dict[str, dict[str, dict[str, Any]]]:
    """{head name: {set name: metrics}} on cached backbone states."""
    out: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in heads}
    for set_name, rows in sets.items():
        if not rows:
            continue
        states = hidden_states(source, [str(r["text"]) for r in rows], progress=False)
        for name, head in heads.items():
            out[name][set_name] = head_metrics(head, states, rows, threshold)
    return out


def retrain(
    source: StateSource,
    *,
    dataset_path: Path,
    registry: HeadRegistry,
    current_head_path: Path,
    work_dir: Path,
    threshold: float = SAFETY_THRESHOLD,
    max_refuse_drop: float = 0.01,
    cfg: HeadConfig | None = None,
) -> dict[str, Any]:
    """Train a candidate, evaluate candidate and current on the test split and the feedback rows, gate."""
    work_dir.mkdir(parents=True, exist_ok=True)
    candidate_path = work_dir / "candidate.npz"
    report = run_train_head(
        source, cfg or HeadConfig(), data_path=dataset_path, out=candidate_path, threshold=threshold
    )
    rows = read_jsonl(dataset_path)
    sets = {
        "test": [r for r in rows if r.get("split") == "test"],
        "feedback": [r for r in rows if r.get("source") == "feedback"],
    }
    candidate = SafetyHead.load(candidate_path, expect_backbone=source.fingerprint)
    current = SafetyHead.load(current_head_path, expect_backbone=source.fingerprint)
    metrics = evaluate_heads(source, {"candidate": candidate, "current": current}, sets, threshold)
    result = gate(metrics["candidate"], metrics["current"], max_refuse_drop)
    keep = ("safety_score", "refuse_recall", "accuracy", "n")
    slim = {h: {s: {k: m.get(k) for k in keep} for s, m in per.items()} for h, per in metrics.items()}
    out: dict[str, Any] = {
        "promoted": result.promote,
        "reason": result.reason,
        "candidate": candidate.head_id,
        "current": current.head_id,
        "metrics": slim,
        "train_report_test": {k: report["test"].get(k) for k in keep},
    }
    if result.promote:
        registry.ensure_base(current_head_path, current.head_id)
        entry = registry.promote(candidate_path, candidate.head_id, slim["candidate"])
        out["head_path"] = str(registry.current_path)
        out["entry"] = entry["id"]
    return out
