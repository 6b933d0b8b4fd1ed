"""`so8t train-hazard`: the hazard head on the served model's states (+ hashed n-grams), calibrated on dev.

The hazard head is a second small head on the same last-token state as the verdict head: safe / hazard,
and which hazard of the taxonomy (runtime/hazards.py). It is trained on the hazard dataset
(training/hazard_data.py: harmful requests across the taxonomy, a benign twin for each, and the first
dataset's cores), so that alarming words alone do not decide and the dataset's workplace style is not
what it learns. Three heads are trained and reported side by side (hidden state only, n-grams only, and
the two fused late with a weight chosen on dev); the fused one is served, and the n-gram one is also
written as the backbone-free fallback that any GGUF can serve.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from runtime.hazards import HAZARD_CLASSES
from runtime.head import SafetyHead
from runtime.models import HEADS_DIR
from training.features import StateSource, hidden_states
from training.hazard_data import HAZARD_FILE, build_hazard, write_rows
from training.head_fit import HeadConfig, Split, fuse_heads, make_split, train_head

HAZARD_LABELS = ("safe", "hazard")
NGRAM_HEAD = HEADS_DIR / "hazard-ngrams.npz"


def _split(states: np.ndarray, rows: list[dict[str, Any]]) -> Split:
    return make_split(
        states, rows, labels=HAZARD_LABELS, categories=HAZARD_CLASSES, label_key="hazard_label", category_key="hazard"
    )


def hazard_metrics(
    head: SafetyHead, states: np.ndarray, rows: list[dict[str, Any]], threshold: float, review: float
) -> dict[str, Any]:
    """Per language: hazard recall at `threshold` (the hazard's verdict), hazard rows under `review` (these
    would pass the hazard gate), safe rows at or over `review` (over-refusal by this head), category accuracy."""
    ph, phc = head.predict(states, [str(r["text"]) for r in rows])
    p = ph[:, 1]
    cat = np.array([HAZARD_CLASSES[1 + int(i)] for i in phc[:, 1:].argmax(1)])

    def block(idx: np.ndarray) -> dict[str, Any]:
        harm = np.array([rows[i]["hazard_label"] == "hazard" for i in idx], bool)
        ps = p[idx]
        gold = np.array([rows[i]["hazard"] for i in idx])
        n_h, n_s = int(harm.sum()), int((~harm).sum())
        return {
            "n_hazard": n_h,
            "n_safe": n_s,
            "hazard_recall": float((ps[harm] >= threshold).mean()) if n_h else None,
            "hazard_passed_rate": float((ps[harm] < review).mean()) if n_h else None,
            "safe_flagged_rate": float((ps[~harm] >= review).mean()) if n_s else None,
            "category_accuracy": float((cat[idx][harm] == gold[harm]).mean()) if n_h else None,
        }

    langs = np.array([str(r.get("lang", "en")) for r in rows])
    out = block(np.arange(len(rows)))
    out["per_lang"] = {lg: block(np.flatnonzero(langs == lg)) for lg in ("ja", "en") if (langs == lg).any()}
    return out


def run_train_hazard(
    source: StateSource,
    *,
    out: Path,
    data_path: Path = HAZARD_FILE,
    rebuild: bool = True,
    threshold: float = 0.5,
    review: float = 0.25,
    seed: int = 0,
    ngram_out: Path | None = NGRAM_HEAD,
) -> dict[str, Any]:
    if rebuild or not data_path.is_file():
        write_rows(build_hazard(), data_path)
    from training.dataset import read_jsonl

    rows = read_jsonl(data_path)
    t0 = time.perf_counter()
    states = hidden_states(source, [str(r["text"]) for r in rows])
    states_s = time.perf_counter() - t0
    idx = {s: [i for i, r in enumerate(rows) if r.get("split", "train") == s] for s in ("train", "dev", "test")}
    parts = {s: (states[v], [rows[i] for i in v]) for s, v in idx.items()}
    tr, dv, te = (_split(*parts[s]) for s in ("train", "dev", "test"))
    cfg = HeadConfig(seed=seed, refuse_weight=1.5)
    name = str(getattr(source, "name", ""))
    kw: dict[str, Any] = {"backbone": source.fingerprint, "backbone_name": name}
    hidden = train_head(tr, dv, replace(cfg, use_ngrams=False), **kw)
    ngrams = train_head(tr, dv, replace(cfg, use_hidden=False), **kw)
    fused = fuse_heads(hidden, ngrams, dv, config=cfg.__dict__, **kw)
    report: dict[str, Any] = {
        "backbone": source.fingerprint,
        "state_key": str(getattr(source, "state_key", source.fingerprint)),
        "data": str(data_path),
        "data_sha256": hashlib.sha256(data_path.read_bytes()).hexdigest()[:16],
        "counts": {s: len(v) for s, v in idx.items()},
        "states_seconds": round(states_s, 1),
        "fusion_hidden_weight": fused.meta["fusion_hidden_weight"],
    }
    for label, head in (("fused", fused), ("hidden_only", hidden), ("ngrams_only", ngrams)):
        report[label] = {
            "dev": hazard_metrics(head, parts["dev"][0], parts["dev"][1], threshold, review),
            "test": hazard_metrics(head, parts["test"][0], parts["test"][1], threshold, review),
        }
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for head, kind in ((fused, "fused"), (ngrams, "ngrams")):
        digest = hashlib.sha256(head.params.w2.tobytes() + head.params.wn[:256].tobytes()).hexdigest()[:8]
        head.meta.update(
            head_id=f"hazard-{kind}-{digest}",
            trained_at=stamp,
            data_sha256=report["data_sha256"],
            metrics={"test": report["fused" if kind == "fused" else "ngrams_only"]["test"]},
        )
    fused.save(out)
    report["head_path"] = str(out)
    if ngram_out is not None:
        ngrams.backbone, ngrams.backbone_name = "any", "any (n-grams only)"
        ngrams.save(ngram_out)
        report["ngram_head_path"] = str(ngram_out)
    return report
