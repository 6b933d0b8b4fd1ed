"""Parity of an exported adapter: llama.cpp + adapter.gguf vs transformers + peft, on the same tokens.

Both read the final-norm hidden state of the prompt's last token (what the safety head reads); the
tokens are the runtime's own (LlamaRuntime.tokens_for), so only the model math differs. Against the
Q4 base, llama.cpp computes with quantized activations: expect cosine ~0.999, not 1.0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime.settings import ModelSettings
from training.hf_base import BaseRef, load_base, resolve_base
from training.lora_export import prompt_states


def base_of(adapter_dir: Path, base: str | None = None) -> BaseRef:
    """The base an adapter was trained on (its manifest), unless `base` is given."""
    if base is None and (adapter_dir / "manifest.json").is_file():
        base = json.loads((adapter_dir / "manifest.json").read_text())["base"]["path"]
    return resolve_base(base)


def peft_model(ref: BaseRef, adapter_dir: Path, model: Any | None = None) -> Any:
    """transformers base + the adapter's peft/ weights (or, for a shipped adapter without peft/, the
    adapter.gguf tensors mapped back to peft's names), in eval mode."""
    from peft import PeftModel

    if model is None:
        model, _ = load_base(ref)
    if (adapter_dir / "peft").is_dir():
        return PeftModel.from_pretrained(model, str(adapter_dir / "peft")).eval()
    return peft_from_gguf(model, adapter_dir / "adapter.gguf", ref.arch).eval()


def peft_from_gguf(model: Any, adapter_file: Path, arch: str) -> Any:
    """A PeftModel whose LoRA weights are read from a llama.cpp GGUF adapter (the inverse of
    training/gguf_adapter.gguf_tensors: names mapped back, the q/k row permutation undone)."""
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    from training.gguf_adapter import MODULE_TO_GGUF, PERMUTED_ARCHS, read_adapter, unpermute_rows
    from training.hf_base import attention_heads

    meta, tensors = read_adapter(adapter_file)
    gguf_to_module = {v: k for k, v in MODULE_TO_GGUF.items()}
    n_head, n_kv = attention_heads(model)
    state: dict[str, Any] = {}
    rank = 0
    for name, arr in tensors.items():
        blk, layer, tname, _, ab = name.split(".")  # blk.{i}.{attn_q}.weight.lora_{a|b}
        module = gguf_to_module[tname]
        w = np.asarray(arr, dtype=np.float32)
        if ab == "lora_b" and arch in PERMUTED_ARCHS and module in ("q_proj", "k_proj"):
            w = unpermute_rows(w, n_head, n_head if module == "q_proj" else n_kv)
        part = "self_attn" if module in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
        key = f"base_model.model.model.layers.{layer}.{part}.{module}.lora_{ab[-1].upper()}.weight"
        state[key] = torch.from_numpy(np.ascontiguousarray(w))
        rank = w.shape[0] if ab == "lora_a" else rank
    cfg = LoraConfig(
        r=rank,
        lora_alpha=float(meta["adapter.lora.alpha"]),  # type: ignore[arg-type]
        lora_dropout=0.0,
        target_modules=sorted({k.split(".")[-3] for k in state}),
    )
    pm = get_peft_model(model, cfg)
    result = set_peft_model_state_dict(pm, state)
    unexpected = list(getattr(result, "unexpected_keys", None) or [])
    if unexpected:
        raise ValueError(f"{adapter_file}: tensors peft does not know: {unexpected[:3]}")
    return pm


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def parity_report(
    adapter_dir: Path, texts: Sequence[str], *, base: str | None = None, hf_model: Any | None = None, threads: int = 2
) -> dict[str, Any]:
    """{n, cos_min, cos_mean, verdict_agreement, ...}; hf_model: an already loaded PeftModel to reuse."""
    from runtime.llama import LlamaRuntime

    ref = base_of(adapter_dir, base)
    if ref.gguf_path is None:
        raise ValueError("parity needs a GGUF base (llama.cpp serves GGUF only)")
    has_head = (adapter_dir / "head.npz").is_file()
    rt = LlamaRuntime(
        ModelSettings(path=str(ref.gguf_path), adapter=str(adapter_dir), threads=threads), with_head=has_head
    )
    tokens = [rt.tokens_for((), t) for t in texts]
    llama = np.stack([rt.hidden_state((), t) for t in texts])
    model = hf_model if hf_model is not None else peft_model(ref, adapter_dir)
    hf = prompt_states(model.get_base_model(), tokens)
    cos = cosines(llama, hf)
    out: dict[str, Any] = {
        "n": len(texts),
        "cos_min": float(cos.min()),
        "cos_mean": float(cos.mean()),
        "cos": [float(c) for c in cos],
        "base": ref.name,
        "adapter": str(adapter_dir),
    }
    if has_head:
        pv_l, _ = rt.head.predict(llama, list(texts))
        pv_h, _ = rt.head.predict(hf, list(texts))
        out["verdict_agreement"] = float((pv_l.argmax(1) == pv_h.argmax(1)).mean())
    return out
