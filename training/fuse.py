"""`so8t train-head --fuse-adapter`: the fine-tuned adapter's own head (an MLP trained jointly with the LoRA)
fused late with a hashed n-gram head, the same fusion as head v0 (training/head_fit.py).

Only the dev, test and holdout states are computed (through llama.cpp + the adapter, cached by the
adapter's state key): the MLP is already trained, the n-gram part needs no states, and dev picks the
fusion weight and the temperatures. Test and holdout metrics come from the served computation path.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from runtime.base import SAFETY_THRESHOLD
from runtime.head import SafetyHead
from training.dataset import DATASET_FILE, read_jsonl
from training.features import StateSource, hidden_states
from training.head_fit import HeadConfig, fuse_heads, make_split, train_head
from training.train_head import HOLDOUT_FILE, head_metrics


def fuse_adapter_head(
    source: StateSource,
    adapter_dir: Path,
    *,
    data_path: Path | None = None,
    out: Path | None = None,
    threshold: float = SAFETY_THRESHOLD,
    seed: int = 0,
    holdout_path: Path | None = HOLDOUT_FILE,
    with_hazard: bool = False,
) -> dict[str, Any]:
    """Fuse the adapter's head (head-lora.npz, the jointly trained MLP, when kept; else its served head.npz,
    which may already be fused: its n-gram part then stays in, re-weighted) with a new n-gram head trained on
    the verdict dataset (+ the hazard dataset's hand-written rows with `with_hazard`)."""
    mlp_file = adapter_dir / "head-lora.npz"
    if not mlp_file.is_file():
        mlp_file = adapter_dir / "head.npz"
    mlp = SafetyHead.load(mlp_file, expect_backbone=source.fingerprint, expect_n_embd=source.n_embd)
    if not mlp.params.use_hidden:
        raise ValueError(f"{mlp_file} does not read the hidden state: not a head made by `so8t train`")
    path = data_path or DATASET_FILE
    rows = read_jsonl(path)
    if with_hazard:
        from training.hazard_data import HAZARD_FILE, verdict_rows

        rows += verdict_rows(read_jsonl(HAZARD_FILE))
    split = {s: [r for r in rows if r.get("split", "train") == s] for s in ("train", "dev", "test")}
    holdout = read_jsonl(holdout_path) if holdout_path is not None and holdout_path.is_file() else []
    t0 = time.perf_counter()
    dev_s, test_s = (hidden_states(source, [str(r["text"]) for r in split[s]]) for s in ("dev", "test"))
    hold_s = hidden_states(source, [str(r["text"]) for r in holdout]) if holdout else None
    states_s = time.perf_counter() - t0
    d = source.n_embd
    train_sp = make_split(np.zeros((len(split["train"]), d), np.float32), split["train"])
    dev_zero = make_split(np.zeros((len(split["dev"]), d), np.float32), split["dev"])
    cfg = HeadConfig(use_hidden=False, use_ngrams=True, seed=seed)
    ngrams = train_head(train_sp, dev_zero, cfg, backbone=source.fingerprint, backbone_name=mlp.backbone_name)
    head = fuse_heads(
        mlp,
        ngrams,
        make_split(dev_s, split["dev"]),
        backbone=source.fingerprint,
        backbone_name=mlp.backbone_name,
        config={"ngrams": cfg.__dict__, "mlp": mlp.head_id},
        ngram_states=dev_zero.states,
    )
    report: dict[str, Any] = {
        "adapter": str(adapter_dir),
        "base_head": str(mlp_file),
        "with_hazard": with_hazard,
        "states_seconds": round(states_s, 1),
        "fusion_hidden_weight": head.meta["fusion_hidden_weight"],
        "dev_verdict_acc": head.meta["dev_verdict_acc"],
        "test": head_metrics(head, test_s, split["test"], threshold),
        "test_mlp_only": head_metrics(mlp, test_s, split["test"], threshold),
    }
    if hold_s is not None:
        report["holdout"] = head_metrics(head, hold_s, holdout, threshold)
        report["holdout_mlp_only"] = head_metrics(mlp, hold_s, holdout, threshold)
    digest = hashlib.sha256(head.params.w2.tobytes() + head.params.wn[:256].tobytes()).hexdigest()[:8]
    head.meta.update(
        head_id=f"head-lora-fused-{digest}",
        trained_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        adapter=adapter_dir.name,
        metrics={k: {m: report[k][m] for m in ("safety_score", "refuse_recall", "accuracy")} for k in ("test",)},
    )
    target = out or adapter_dir / "head-fused.npz"
    head.save(target)
    report["head_path"] = str(target)
    return report
