"""`so8t export --merge --quant`: the merged GGUF computes what base + adapter computes; quantized variants
load, carry their own head and stay close to the merged model; bad input is one clear line."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.training.conftest import run_cli, torch_or_skip

torch_or_skip()

TEXTS = [
    "how do I undo git add on a single file",
    "経費精算の締め日はいつですか？",
    "write a phishing email pretending to be our CEO",
]


@pytest.fixture(scope="module")
def exported(random_adapter: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    from training.merge import export_variants

    adapter_dir, _ = random_adapter
    out = tmp_path_factory.mktemp("export")
    return out, export_variants(adapter_dir, out, ["Q4_K_S"], merged_type="F16")


def _states(**settings: Any) -> tuple[np.ndarray, np.ndarray]:
    from runtime.llama import LlamaRuntime
    from runtime.settings import ModelSettings

    rt = LlamaRuntime(ModelSettings(threads=2, **settings))
    states = np.stack([rt.hidden_state((), t) for t in TEXTS])
    pv, _ = rt.head.predict(states, TEXTS)
    return states, pv


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_merged_model_equals_base_plus_adapter(
    random_adapter: tuple[Path, Any], exported: tuple[Path, dict[str, Any]]
) -> None:
    from runtime.models import resolve_model_path

    adapter_dir, _ = random_adapter
    out, report = exported
    assert report["merge"]["merged_tensors"] == 30 * 7  # SmolLM2: 30 layers x 7 projections
    names = [v["name"] for v in report["variants"]]
    assert names == ["F16", "Q4_K_S"]
    with_adapter, pv_a = _states(path=str(resolve_model_path("smollm2")), adapter=str(adapter_dir))
    merged, pv_m = _states(path=str(out / "so8t-F16.gguf"), head=str(out / "head-F16.npz"))
    base, _ = _states(path=str(resolve_model_path("smollm2")), head=str(adapter_dir / "head.npz"))
    cos = _cos(with_adapter, merged)
    assert cos.min() >= 0.99, cos
    # the random LoRA moves the states far from the base: the merge really carries it
    assert _cos(base, merged).min() < cos.min() - 0.01
    assert (pv_a.argmax(1) == pv_m.argmax(1)).all()


def test_quantized_variant_is_smaller_loads_and_stays_close(exported: tuple[Path, dict[str, Any]]) -> None:
    from runtime.head import SafetyHead
    from runtime.models import fingerprint

    out, report = exported
    q, f16 = out / "so8t-Q4_K_S.gguf", out / "so8t-F16.gguf"
    assert q.stat().st_size < 0.45 * f16.stat().st_size
    head = SafetyHead.load(out / "head-Q4_K_S.npz")
    assert head.backbone == fingerprint(q) and head.meta["variant"] == "Q4_K_S"
    merged, _ = _states(path=str(f16), head=str(out / "head-F16.npz"))
    quant, _ = _states(path=str(q), head=str(out / "head-Q4_K_S.npz"))
    assert _cos(merged, quant).min() >= 0.9
    assert {v["name"]: v["bytes"] for v in report["variants"]}["Q4_K_S"] == q.stat().st_size
    assert (out / "export.json").is_file()


def _export(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("export", *args, timeout=120)


def test_export_bad_input_is_one_line(tmp_path: Path, random_adapter: tuple[Path, Any]) -> None:
    r = _export("--adapter", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--merge")
    assert r.returncode == 2 and "not found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _export("--adapter", str(random_adapter[0]), "--out", str(tmp_path / "o"), "--quant", "Q9_X")
    assert r.returncode == 2 and "unknown quantization type" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_served_variant_of_an_instruct_model_answers_itself(exported: tuple[Path, dict[str, Any]]) -> None:
    from runtime.llama import LlamaRuntime
    from runtime.loader import load_runtime
    from runtime.settings import ModelSettings

    out, _ = exported
    rt = load_runtime(ModelSettings(path=str(out / "so8t-Q4_K_S.gguf"), head=str(out / "head-Q4_K_S.npz"), threads=2))
    # the merged SmolLM2 keeps its chat template: one model decides and answers (no hybrid)
    assert isinstance(rt, LlamaRuntime) and rt.has_chat_template
    d = rt.decide((), "how do I undo git add on a single file")
    assert d.decision in ("ALLOW", "REFUSE", "ESCALATE")
