"""The GGUF adapter writer: metadata llama.cpp reads, tensor names and shapes, the q/k row permutation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.gguf_adapter import AdapterShape, gguf_tensors, permute_rows, read_adapter, write_adapter

SIZES = {  # module -> (in, out) for a tiny llama: hidden 16, 4 heads of 4, 2 kv heads, ffn 24
    "self_attn.q_proj": (16, 16),
    "self_attn.k_proj": (16, 8),
    "self_attn.v_proj": (16, 8),
    "self_attn.o_proj": (16, 16),
    "mlp.gate_proj": (16, 24),
    "mlp.up_proj": (16, 24),
    "mlp.down_proj": (24, 16),
}
R = 2


def _peft_state(layers: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    state = {}
    for i in range(layers):
        for mod, (n_in, n_out) in SIZES.items():
            pre = f"base_model.model.model.layers.{i}.{mod}"
            state[f"{pre}.lora_A.weight"] = rng.standard_normal((R, n_in)).astype(np.float32)
            state[f"{pre}.lora_B.weight"] = rng.standard_normal((n_out, R)).astype(np.float32)
    return state


def test_permute_rows_matches_the_converter() -> None:
    # one head of 4 rotary dims: halves interleaved (0,2,1,3)
    assert permute_rows(np.arange(4)[:, None], 1).ravel().tolist() == [0, 2, 1, 3]
    # and it inverts transformers' un-permutation of GGUF q/k weights (the converter's exact inverse)
    tp = pytest.importorskip("transformers.modeling_gguf_pytorch_utils", reason="needs transformers")
    proc = tp.LlamaTensorProcessor(config={})
    w = np.random.default_rng(1).standard_normal((64, 5))
    assert np.array_equal(permute_rows(proc._reverse_permute_weights(w, 8, 8), 8, 8), w)
    wk = np.random.default_rng(2).standard_normal((16, 5))
    assert np.array_equal(permute_rows(proc._reverse_permute_weights(wk, 8, 2), 8, 2), wk)


def test_writer_metadata_names_shapes_and_permutation(tmp_path: Path) -> None:
    state = _peft_state()
    tensors = gguf_tensors(state, AdapterShape(arch="llama", n_head=4, n_head_kv=2))
    path = tmp_path / "adapter.gguf"
    write_adapter(path, tensors, alpha=16.0, arch="llama")
    meta, read = read_adapter(path)
    assert meta["general.type"] == "adapter"
    assert meta["general.architecture"] == "llama"
    assert meta["adapter.type"] == "lora"
    assert meta["adapter.lora.alpha"] == pytest.approx(16.0)
    names = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}
    expected = {f"blk.{i}.{n}.weight.lora_{ab}" for i in range(2) for n in names for ab in "ab"}
    assert set(read) == expected
    for mod, (n_in, n_out) in SIZES.items():
        gname = {
            "q_proj": "attn_q",
            "k_proj": "attn_k",
            "v_proj": "attn_v",
            "o_proj": "attn_output",
            "gate_proj": "ffn_gate",
            "up_proj": "ffn_up",
            "down_proj": "ffn_down",
        }[mod.split(".")[1]]
        a, b = read[f"blk.1.{gname}.weight.lora_a"], read[f"blk.1.{gname}.weight.lora_b"]
        assert a.shape == (R, n_in) and b.shape == (n_out, R)  # no transposes
        assert a.dtype == np.float32
        pre = f"base_model.model.model.layers.1.{mod}"
        assert np.array_equal(a, state[f"{pre}.lora_A.weight"])
        if mod.endswith("q_proj"):
            assert np.array_equal(b, permute_rows(state[f"{pre}.lora_B.weight"], 4, 4))
            assert not np.array_equal(b, state[f"{pre}.lora_B.weight"])
        elif mod.endswith("k_proj"):
            assert np.array_equal(b, permute_rows(state[f"{pre}.lora_B.weight"], 4, 2))
        else:
            assert np.array_equal(b, state[f"{pre}.lora_B.weight"])


def test_non_llama_arch_is_not_permuted_and_bad_input_is_refused() -> None:
    state = _peft_state(1)
    t = gguf_tensors(state, AdapterShape(arch="gemma3", n_head=4, n_head_kv=2))
    key = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"
    assert np.array_equal(t["blk.0.attn_q.weight.lora_b"], state[key])
    with pytest.raises(ValueError, match="no LoRA tensors"):
        gguf_tensors({"foo": np.zeros(2)}, AdapterShape("llama", 4, 2))
    with pytest.raises(ValueError, match="embed"):
        gguf_tensors({"model.layers.0.mlp.embed.lora_A.weight": np.zeros((2, 2))}, AdapterShape("llama", 4, 2))
