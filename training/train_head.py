"""`so8t train-head`: frozen states -> trained, calibrated head -> metrics on test and holdout -> file."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from runtime.base import LABELS, SAFETY_THRESHOLD
from runtime.gate import decide_from_probs
from runtime.head import SafetyHead, head_path_for
from runtime.lang import detect_lang
from runtime.models import HEADS_DIR
from training.dataset import DATA_DIR, DATASET_FILE, build, read_jsonl, write_jsonl
from training.eval_metrics import decision_metrics
from training.features import StateSource, hidden_states
from training.head_fit import HeadConfig, expected_calibration_error, make_split, train_head

HOLDOUT_FILE = DATA_DIR / "holdout" / "unseen.jsonl"


def head_metrics(head: SafetyHead, states: np.ndarray, rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """The gated verdicts' metrics (overall and per language), computed from cached states."""
    pv, pc = head.predict(states, [str(r["text"]) for r in rows])
    decisions = [
        decide_from_probs(pv[i], pc[i], str(r.get("lang") or detect_lang(str(r["text"]))), threshold)
        for i, r in enumerate(rows)
    ]

    out = decision_metrics(rows, decisions)
    y = np.array([LABELS.index(str(r["label"])) for r in rows])
    out["ece"] = expected_calibration_error(pv, y)
    return out


def run_train_head(
    source: StateSource,
    cfg: HeadConfig,
    *,
    data_path: Path | None = None,
    out: Path | None = None,
    threshold: float = SAFETY_THRESHOLD,
) -> dict[str, Any]:
    path = data_path or DATASET_FILE
    if not path.is_file():
        write_jsonl(build(), path)
    rows = read_jsonl(path)
    holdout = read_jsonl(HOLDOUT_FILE) if HOLDOUT_FILE.is_file() else []
    texts = [str(r["text"]) for r in rows + holdout]
    t0 = time.perf_counter()
    states = hidden_states(source, texts)
    states_s = time.perf_counter() - t0
    by_split: dict[str, list[int]] = {"train": [], "dev": [], "test": []}
    for i, r in enumerate(rows):
        by_split.setdefault(str(r.get("split", "train")), []).append(i)

    def part(name: str) -> tuple[np.ndarray, list[dict[str, Any]]]:
        idx = by_split[name]
        return states[idx], [rows[i] for i in idx]

    (s_tr, r_tr), (s_dv, r_dv), (s_te, r_te) = part("train"), part("dev"), part("test")
    log: list[dict[str, float]] = []
    backbone_name = getattr(source, "name", "")
    head = train_head(
        make_split(s_tr, r_tr),
        make_split(s_dv, r_dv),
        cfg,
        backbone=source.fingerprint,
        backbone_name=backbone_name,
        log=log,
    )
    report: dict[str, Any] = {
        "backbone": source.fingerprint,
        "backbone_name": backbone_name,
        "data": str(path),
        "data_sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        "counts": {k: len(v) for k, v in by_split.items()},
        "states_seconds": round(states_s, 1),
        "epochs_run": len(log),
        "dev_verdict_acc": head.meta["dev_verdict_acc"],
        "t_verdict": head.t_verdict,
        "t_category": head.t_category,
        "config": cfg.__dict__,
        "test": head_metrics(head, s_te, r_te, threshold),
    }
    if holdout:
        report["holdout"] = head_metrics(head, states[len(rows) :], holdout, threshold)
    digest = hashlib.sha256(head.params.w2.tobytes() + head.params.wn[:256].tobytes()).hexdigest()[:8]
    head.meta.update(
        head_id=f"head-v0-{digest}",
        trained_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        metrics={
            "test": {k: report["test"][k] for k in ("safety_score", "refuse_recall", "accuracy")},
            **(
                {"holdout": {k: report["holdout"][k] for k in ("safety_score", "refuse_recall", "accuracy")}}
                if holdout
                else {}
            ),
        },
        data_sha256=report["data_sha256"],
    )
    target = out or head_path_for(source.fingerprint, HEADS_DIR)
    head.save(target)
    report["head_path"] = str(target)
    report["head_id"] = head.head_id
    return report
