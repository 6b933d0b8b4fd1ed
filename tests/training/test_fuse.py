"""The adapter's jointly trained head fused with an n-gram head, and shipping an adapter by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.training.conftest import ROWS, TEST_ROWS, torch_or_skip, write_slice_with_test

torch_or_skip()


def test_fuse_adapter_head_keeps_the_mlp_and_adds_ngrams(
    random_adapter: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime.head import SafetyHead
    from runtime.llama import LlamaRuntime
    from runtime.settings import ModelSettings
    from training import features
    from training.fuse import fuse_adapter_head

    src, _ = random_adapter
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for f in ("adapter.gguf", "head.npz", "manifest.json"):
        (adapter / f).write_bytes((src / f).read_bytes())
    monkeypatch.setattr(features, "CACHE_DIR", tmp_path / "cache")
    rt = LlamaRuntime(ModelSettings(path="smollm2", adapter=str(adapter), threads=2), with_head=False)
    base = LlamaRuntime(ModelSettings(path="smollm2", adapter="none", threads=2), with_head=False)
    # the state caches are keyed by model, prompt format and adapter: adapter states never mix with the base's
    assert rt.state_key.startswith(base.state_key) and rt.state_key != base.state_key
    assert base.state_key.startswith(f"{rt.fingerprint}-p")
    data = write_slice_with_test(tmp_path / "d.jsonl")
    rep = fuse_adapter_head(rt, adapter, data_path=data, holdout_path=None)
    fused = SafetyHead.load(adapter / "head-fused.npz", expect_backbone=rt.fingerprint)
    mlp = SafetyHead.load(adapter / "head.npz")  # the adapter's own head, hidden state only
    assert fused.params.use_hidden and fused.params.use_ngrams and not mlp.params.use_ngrams
    a = rep["fusion_hidden_weight"]
    assert 0.0 <= a <= 1.0 and rep["base_head"] == str(adapter / "head.npz")
    np.testing.assert_allclose(fused.params.w2, mlp.params.w2 * a, rtol=1e-6)
    assert rep["test"]["n"] == len(TEST_ROWS) and "holdout" not in rep
    assert len(ROWS) + len(TEST_ROWS) == sum(1 for _ in (tmp_path / "d.jsonl").open())
    # the served runtime reads the fused head from the adapter directory when it is head.npz
    (adapter / "head.npz").write_bytes((adapter / "head-fused.npz").read_bytes())
    # fused again: the served head's own n-grams stay in, weighted like its hidden part (same data and seed,
    # so the new n-gram head equals the first one)
    rep2 = fuse_adapter_head(rt, adapter, data_path=data, holdout_path=None, out=adapter / "head-fused2.npz")
    again = SafetyHead.load(adapter / "head-fused2.npz")
    a2 = rep2["fusion_hidden_weight"]
    np.testing.assert_allclose(again.params.w2, fused.params.w2 * a2, rtol=1e-5)
    if a < 1.0:
        scale = (a2 * (1 - a) + (1 - a2)) / (1 - a)
        np.testing.assert_allclose(again.params.wn, fused.params.wn * scale, rtol=2e-2, atol=2e-3)
    served = LlamaRuntime(ModelSettings(path="smollm2", adapter=str(adapter), threads=2))
    assert served.head.head_id == fused.head_id
    assert served.decide((), TEST_ROWS[0][0]).decision in ("ALLOW", "REFUSE", "ESCALATE")


def test_ship_adapter_halves_the_file_and_serves_by_name(
    random_adapter: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime import models
    from runtime.llama import LlamaRuntime
    from runtime.settings import ModelSettings
    from training.merge import ship_adapter

    src, _ = random_adapter
    monkeypatch.setattr(models, "LORA_DIR", tmp_path / "adapters")
    dest = ship_adapter(src, "smollm2-test")
    assert dest == tmp_path / "adapters" / "smollm2-test"
    assert (dest / "adapter.gguf").stat().st_size < 0.6 * (src / "adapter.gguf").stat().st_size
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["base"]["path"] == manifest["base"]["name"]  # no path of the training machine
    assert models.shipped_adapter("smollm2-test") == dest
    assert models.shipped_adapter(manifest["base"]["fingerprint"]) == dest
    by_name = LlamaRuntime(ModelSettings(path="smollm2", adapter="smollm2-test", threads=2))
    by_dir = LlamaRuntime(ModelSettings(path="smollm2", adapter=str(src), threads=2))
    text = "write a phishing email pretending to be our CEO"
    a, b = by_name.hidden_state((), text), by_dir.hidden_state((), text)
    assert float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) > 0.999  # float16 LoRA = float32 LoRA
    off = LlamaRuntime(ModelSettings(path="smollm2", adapter="none", head=str(src / "head.npz"), threads=2))
    assert off.adapter_path is None
