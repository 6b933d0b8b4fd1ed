"""Parity: llama.cpp + adapter.gguf vs transformers + peft on the same tokens (cosine >= 0.99, verdicts agree).

The adapter has random, non-trivial lora_B (a freshly trained one is ~0 and would prove nothing): large
enough that exporting q/k without llama.cpp's row permutation drops the cosine to ~0.99-0.995, while
the correct export stays at the base model's own Q4 parity (~0.9997). SO8T_PARITY_FULL=1 runs 200 test
texts (against SO8T_PARITY_ADAPTER when set, e.g. a trained adapter dir, else the random one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.training.conftest import torch_or_skip  # random_adapter: the fixture in conftest.py

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


@pytest.mark.skipif(not os.environ.get("SO8T_PARITY_FULL"), reason="set SO8T_PARITY_FULL=1 for the 200-text parity")
def test_parity_200_texts(random_adapter: tuple[Path, Any]) -> None:
    from training.dataset import DATASET_FILE, read_jsonl
    from training.parity import parity_report

    rows = [r for r in read_jsonl(DATASET_FILE) if r.get("split") == "test"][:200]
    texts = [str(r["text"]) for r in rows]
    given = os.environ.get("SO8T_PARITY_ADAPTER")
    rep = (
        parity_report(Path(given), texts)
        if given
        else parity_report(random_adapter[0], texts, hf_model=random_adapter[1])
    )
    assert rep["n"] == len(texts)
    assert rep["cos_min"] >= 0.99, sorted(rep["cos"])[:5]
    assert rep.get("verdict_agreement", 1.0) >= 0.99
