"""Export a trained run into its --out directory, the layout `SO8T_ADAPTER=DIR` serves:

adapter.gguf   the LoRA as a llama.cpp GGUF adapter (training/gguf_adapter.py)
head.npz       the safety head in the runtime's SafetyHead format (hidden-state MLP; n-grams off),
               temperatures fitted on dev states computed through the adapter
peft/          the same LoRA in peft's format (parity checks, merging)
manifest.json  base fingerprint, data sha, config, final losses, dev metrics, files
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime.base import LABELS
from runtime.head import SafetyHead
from training.gguf_adapter import AdapterShape, gguf_tensors, write_adapter
from training.head_fit import fit_temperature
from training.hf_base import BaseRef, attention_heads

if TYPE_CHECKING:
    from training.lora import Run


def prompt_states(causal: Any, token_lists: Sequence[Sequence[int]], batch: int = 8) -> np.ndarray:
    """Final-norm hidden state of each sequence's last token (eval mode, no grad): what llama.cpp reads."""
    import torch

    out = []
    device = next(causal.parameters()).device
    decoder = causal.get_decoder()
    with torch.no_grad():
        for s in range(0, len(token_lists), batch):
            chunk = token_lists[s : s + batch]
            n = max(len(x) for x in chunk)
            ids = torch.zeros((len(chunk), n), dtype=torch.long)
            mask = torch.zeros((len(chunk), n), dtype=torch.long)
            for i, x in enumerate(chunk):
                ids[i, : len(x)] = torch.tensor(list(x))
                mask[i, : len(x)] = 1
            h = decoder(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state.float()
            last = mask.sum(1) - 1
            out.append(h[torch.arange(len(chunk)), last.to(device)].cpu().numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def export_adapter(model: Any, ref: BaseRef, alpha: float, out: Path) -> Path:
    """peft model -> out/adapter.gguf and out/peft/."""
    from peft import get_peft_model_state_dict

    state = {k: v.detach().float().cpu().numpy() for k, v in get_peft_model_state_dict(model).items()}
    n_head, n_kv = attention_heads(model)
    arch = ref.arch if ref.gguf_file else ("llama" if ref.arch in ("llama", "mistral") else ref.arch)
    path = out / "adapter.gguf"
    write_adapter(path, gguf_tensors(state, AdapterShape(arch=arch, n_head=n_head, n_head_kv=n_kv)), alpha, arch)
    model.save_pretrained(str(out / "peft"), save_embedding_layers=False)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def calibrated_head(run: Run) -> tuple[SafetyHead, np.ndarray | None]:
    """The run's head in the runtime format, its temperatures fitted on the dev states read through the
    current LoRA (eval mode); returns (head, dev states), states None when the run has no dev rows."""
    from training.torch_head import NV, to_safety_head

    head = to_safety_head(run.head, backbone=run.ref.fingerprint, backbone_name=run.ref.name)
    if not run.dev:
        return head, None
    import torch

    states = prompt_states(run.model.get_base_model(), [e.ids[: e.prompt_len] for e in run.dev])
    with torch.no_grad():
        z = run.head(torch.from_numpy(states).to(run.device)).float().cpu().numpy()
    head.t_verdict = fit_temperature(z[:, :NV], np.array([e.verdict for e in run.dev]))
    head.t_category = fit_temperature(z[:, NV:], np.array([e.category for e in run.dev]))
    return head, states


def export_run(run: Run) -> dict[str, Any]:
    from training.lora import read_metrics
    from training.train_head import head_metrics

    cfg, out = run.cfg, run.cfg.out
    run.model.eval()
    run.head.eval()
    adapter = export_adapter(run.model, run.ref, cfg.alpha, out)
    head, states = calibrated_head(run)
    t_v, t_c = head.t_verdict, head.t_category
    dev_metrics = head_metrics(head, states, run.dev_rows, cfg.threshold) if states is not None else None
    digest = hashlib.sha256(head.params.w2.tobytes() + head.params.b2.tobytes()).hexdigest()[:8]
    head.meta.update(
        head_id=f"head-lora-{digest}",
        trained_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        adapter=adapter.name,
        data_sha256=run.data_sha,
        metrics={"dev": {k: dev_metrics[k] for k in ("safety_score", "refuse_recall", "accuracy")}}
        if dev_metrics
        else {},
    )
    head.save(out / "head.npz")
    history = read_metrics(out / "metrics.jsonl")
    last = history[-10:]
    import peft
    import torch
    import transformers

    manifest: dict[str, Any] = {
        "kind": "so8t-lora-adapter",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "base": {
            "name": run.ref.name,
            "fingerprint": run.ref.fingerprint,
            "arch": run.ref.arch,
            "path": str(run.ref.gguf_path or run.ref.directory),
        },
        "data": {"path": str(cfg.data), "sha256": run.data_sha, "train_rows": len(run.train), "dev_rows": len(run.dev)},
        "config": cfg.to_dict(),
        "steps": run.step,
        "total_steps": run.total,
        "rows_with_replies": run.replies,
        "qlora": run.qlora,
        "device": run.device,
        "head": {"id": head.head_id, "use_ngrams": False, "t_verdict": t_v, "t_category": t_c},
        "metrics": {
            "final": {k: float(np.mean([r[k] for r in last])) for k in ("loss", "head_loss", "lm_loss", "pet")}
            if last
            else {},
            "train_seconds": round(sum(r["step_s"] for r in history), 1),
            "dev": _slim(dev_metrics) if dev_metrics else None,
        },
        "files": {name: _sha(out / name) for name in ("adapter.gguf", "head.npz") if (out / name).is_file()},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "labels": list(LABELS),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


def _slim(m: dict[str, Any]) -> dict[str, Any]:
    keep = ("n", "accuracy", "refuse_recall", "escalate_precision", "allow_precision", "safety_score", "ece")
    out = {k: m.get(k) for k in keep}
    out["per_lang"] = {lg: {k: v.get(k) for k in keep} for lg, v in m.get("per_lang", {}).items()}
    return out
