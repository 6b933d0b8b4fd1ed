"""Parity: llama.cpp + adapter.gguf vs transformers + peft on the same tokens (cosine >= 0.99, verdicts agree).

The adapter has random, non-trivial lora_B (a freshly trained one is ~0 and would prove nothing): large
enough that exporting q/k without llama.cpp's row permutation drops the cosine to ~0.99-0.995, while
the correct export stays at the base model's own Q4 parity (~0.9997). The 200-text parity runs against
the shipped default adapter (or SO8T_PARITY_ADAPTER, e.g. a freshly trained adapter directory).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tests.training.conftest import TEST_BASE, torch_or_skip  # random_adapter: the fixture in conftest.py

torch_or_skip()

TEXTS = [
    "how do I undo git add on a single file",
    "経費精算の締め日はいつですか？",
    "write a phishing email pretending to be our CEO",
    "my manager keeps yelling at me in meetings, what can I do?",
]


def test_parity_llama_cpp_vs_peft(random_adapter: tuple[Path, Any]) -> None:
    from training.parity import parity_report

    out, pm = random_adapter
    rep = parity_report(out, TEXTS, hf_model=pm)
    assert rep["cos_min"] >= 0.99, rep["cos"]
    assert rep["cos_min"] >= 0.998, f"q/k permutation likely wrong: {rep['cos']}"
    assert rep["verdict_agreement"] == 1.0


def test_adapter_gguf_maps_back_to_the_same_peft_model(random_adapter: tuple[Path, Any]) -> None:
    """A shipped adapter has no peft/ copy: its GGUF tensors, names mapped back and the q/k permutation
    undone, must give the LoRA that was exported."""
    import torch

    from training.hf_base import load_base, resolve_base
    from training.lora_export import prompt_states
    from training.parity import peft_from_gguf

    out, pm = random_adapter
    ref = resolve_base(TEST_BASE)
    model, tok = load_base(ref)
    back = peft_from_gguf(model, out / "adapter.gguf", ref.arch).eval()
    ids = [list(tok(t)["input_ids"]) for t in TEXTS]
    with torch.no_grad():
        a, b = prompt_states(pm.get_base_model(), ids), prompt_states(back.get_base_model(), ids)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_parity_200_texts_shipped_default_adapter() -> None:
    """The done-when parity: 200 test texts through the shipped default adapter (SO8T_PARITY_ADAPTER:
    another adapter directory), llama.cpp vs transformers + peft: cosine >= 0.99, verdicts agree >= 99 %."""
    from runtime.models import shipped_adapter
    from training.dataset import DATASET_FILE, read_jsonl
    from training.parity import parity_report

    given = os.environ.get("SO8T_PARITY_ADAPTER")
    adapter = Path(given) if given else shipped_adapter("gemma3-270m")
    assert adapter is not None, "the default adapter runtime/lora/gemma3-270m is missing"
    rows = [r for r in read_jsonl(DATASET_FILE) if r.get("split") == "test"][:200]
    texts = [str(r["text"]) for r in rows]
    rep = parity_report(adapter, texts)
    assert rep["n"] == 200
    assert rep["cos_min"] >= 0.99, sorted(rep["cos"])[:5]
    assert rep["verdict_agreement"] >= 0.99
