"""Write a peft LoRA as a llama.cpp GGUF adapter (numpy + the `gguf` package; no torch).

llama.cpp reads: general.type=adapter, adapter.type=lora, adapter.lora.alpha (float32), and per target
weight `<name>.lora_a` = peft lora_A (r, in) and `<name>.lora_b` = lora_B (out, r), no transposes
(numpy row-major (r, in) is GGUF ne [in, r], what llama.cpp expects). The scale it applies is
alpha / rank, as peft's. For the llama architecture, llama.cpp's converter permutes the rows of the q
and k weights (rotary halves interleaved per head), so lora_b of attn_q / attn_k gets the same row
permutation or parity drops (docs/architecture.md, "LoRA export").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# peft module name (last component) -> llama.cpp tensor name inside blk.{i}
MODULE_TO_GGUF = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}
TARGET_MODULES: tuple[str, ...] = tuple(MODULE_TO_GGUF)
PERMUTED_ARCHS = ("llama",)
_PEFT_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.\w+)?\.weight$")


def permute_rows(w: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf's LlamaModel.permute, on the first (output) axis of `w`."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_rows(w: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """The inverse of permute_rows: llama.cpp's row order back to Hugging Face's."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@dataclass(frozen=True)
class AdapterShape:
    """What the writer needs to know about the base model."""

    arch: str
    n_head: int
    n_head_kv: int


def gguf_tensors(peft_state: Mapping[str, np.ndarray], shape: AdapterShape) -> dict[str, np.ndarray]:
    """peft state dict (lora_A / lora_B weights, any prefix) -> {gguf tensor name: float32 array}."""
    out: dict[str, np.ndarray] = {}
    for key, value in peft_state.items():
        m = _PEFT_KEY.search(key)
        if m is None:
            continue
        layer, module, ab = int(m.group(1)), m.group(2), m.group(3)
        if module not in MODULE_TO_GGUF:
            raise ValueError(f"LoRA on {module} has no llama.cpp tensor name (supported: {', '.join(MODULE_TO_GGUF)})")
        arr = np.ascontiguousarray(value, dtype=np.float32)
        if ab == "B" and shape.arch in PERMUTED_ARCHS:
            if module == "q_proj":
                arr = permute_rows(arr, shape.n_head, shape.n_head)
            elif module == "k_proj":
                arr = permute_rows(arr, shape.n_head, shape.n_head_kv)
        name = f"blk.{layer}.{MODULE_TO_GGUF[module]}.weight.lora_{ab.lower()}"
        out[name] = np.ascontiguousarray(arr)
    if not out:
        raise ValueError("no LoRA tensors found in the state dict")
    return out


def write_adapter(
    path: Path,
    tensors: Mapping[str, np.ndarray],
    alpha: float,
    arch: str,
    name: str = "so8t",
    dtype: type[np.floating] = np.float32,
) -> None:
    """Write the GGUF adapter file (atomically: a partial file never replaces a good one); float16 halves
    the file for shipping (llama.cpp computes the LoRA product in float32 either way)."""
    import logging

    import gguf

    logging.getLogger("gguf").setLevel(logging.WARNING)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch=arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("general.name", name)
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    for tname in sorted(tensors, key=_tensor_order):
        writer.add_tensor(tname, np.ascontiguousarray(tensors[tname], dtype=dtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(path)


def _tensor_order(name: str) -> tuple[int, str]:
    m = re.match(r"blk\.(\d+)\.(.*)", name)
    return (int(m.group(1)), m.group(2)) if m else (-1, name)


def read_adapter(path: Path) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """(metadata, tensors) of a GGUF adapter, for tests and `so8t` checks."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    meta: dict[str, object] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        meta[key] = field.contents()
    tensors = {t.name: np.array(t.data).reshape(tuple(reversed([int(x) for x in t.shape]))) for t in reader.tensors}
    return meta, tensors
