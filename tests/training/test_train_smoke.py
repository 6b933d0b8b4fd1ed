"""`so8t train --max-steps 2` end to end on a tiny slice: outputs, the GGUF adapter llama.cpp serves,
the head, the manifest; SIGTERM saves a checkpoint and --resume continues it exactly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.training.conftest import ROOT, run_env, run_train, torch_or_skip, train_cmd, write_slice

torch_or_skip()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    d = tmp_path_factory.mktemp("smoke")
    data = write_slice(d / "data.jsonl")
    out = d / "adapter"
    proc = run_train(data, out, "--max-steps", "2")
    return data, out, proc


def test_smoke_run_writes_adapter_head_manifest_metrics(
    smoke: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    from runtime.head import SafetyHead
    from runtime.models import ANSWER_BACKBONE, fingerprint  # the test base, SmolLM2
    from training.gguf_adapter import read_adapter

    data, out, proc = smoke
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "step 2/2" in proc.stderr and "pet_w" in proc.stderr and "eta" in proc.stderr
    for name in (
        "adapter.gguf",
        "head.npz",
        "manifest.json",
        "metrics.jsonl",
        "peft/adapter_config.json",
        "checkpoint/state.pt",
    ):
        assert (out / name).is_file(), name
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2]
    assert [r["pet_weight"] for r in recs] == [0.05, 0.2]  # progress 0.0 and 0.5
    for r in recs:
        assert {"loss", "head_loss", "lm_loss", "pet", "lr", "step_s"} <= set(r) and np.isfinite(r["loss"])
    base_fp = fingerprint(ANSWER_BACKBONE.path())  # type: ignore[arg-type]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["base"]["fingerprint"] == base_fp
    assert manifest["steps"] == 2 and manifest["data"]["train_rows"] == 8
    assert len(manifest["data"]["sha256"]) == 16 and manifest["config"]["pet"]["bounds"] == [0.3, 0.7]
    meta, tensors = read_adapter(out / "adapter.gguf")
    assert meta["general.type"] == "adapter" and meta["adapter.type"] == "lora"
    assert meta["adapter.lora.alpha"] == pytest.approx(16.0)
    assert len(tensors) == 30 * 7 * 2
    assert tensors["blk.0.attn_q.weight.lora_a"].shape == (8, 576)
    assert tensors["blk.0.attn_k.weight.lora_b"].shape == (192, 8)
    assert tensors["blk.29.ffn_down.weight.lora_a"].shape == (8, 1536)
    head = SafetyHead.load(out / "head.npz", expect_backbone=base_fp, expect_n_embd=576)
    assert head.head_id.startswith("head-lora-") and not head.params.use_ngrams


def test_llama_cpp_serves_the_adapter(smoke: tuple[Path, Path, subprocess.CompletedProcess[str]]) -> None:
    from runtime.llama import LlamaRuntime
    from runtime.settings import ModelSettings

    _, out, proc = smoke
    assert proc.returncode == 0, proc.stderr[-3000:]
    rt = LlamaRuntime(ModelSettings(path="smollm2", adapter=str(out), threads=2, max_answer_tokens=4))
    assert rt.adapter_path == out / "adapter.gguf" and rt.head_id.startswith("head-lora-")
    d = rt.decide((), "how do I undo git add on a single file")
    assert d.reason in ("model", "threshold") and d.decision in ("ALLOW", "REFUSE", "ESCALATE")
    assert "".join(rt.answer((), "how do I undo git add on a single file", max_tokens=4))

    # and through the CLI, as an operator runs it: SO8T_ADAPTER alone serves the base of its manifest
    def ask(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", "ask", "--json", "what is a pull request?"],
            cwd=ROOT,
            env=run_env() | env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    cli = ask({"SO8T_ADAPTER": str(out)})
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert json.loads(cli.stdout.strip().splitlines()[-1])["reason"] in ("model", "threshold")
    # another model set explicitly: one line that says what to set, no traceback
    wrong = ask({"SO8T_ADAPTER": str(out), "SO8T_MODEL": "gemma3-270m"})
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "trained on smollm2" in wrong.stderr and "SO8T_MODEL=smollm2" in wrong.stderr


def test_sigterm_saves_and_resume_continues_exactly(
    smoke: tuple[Path, Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    from training.gguf_adapter import read_adapter

    data = smoke[0]
    ref = tmp_path / "ref"
    full = run_train(data, ref, "--max-steps", "3")
    assert full.returncode == 0, full.stderr[-3000:]
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        train_cmd(data, out, "--max-steps", "3"),
        cwd=ROOT,
        env=run_env(),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("step 1/3"):
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=300) == 128 + signal.SIGTERM, "".join(seen)[-2000:] + rest[-2000:]
    assert "--resume" in rest and (out / "checkpoint/state.pt").is_file()
    assert not (out / "adapter.gguf").exists()  # interrupted: checkpoint only, nothing exported
    done = len((out / "metrics.jsonl").read_text().splitlines())
    assert done in (1, 2)  # the step in flight when the signal came is finished, then saved
    again = run_train(data, out, "--max-steps", "3")
    assert again.returncode == 2 and "--resume" in again.stderr  # never overwrites a checkpoint silently
    resumed = run_train(data, out, "--max-steps", "3", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed at step {done}" in resumed.stderr
    a = [json.loads(x) for x in (ref / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in b] == [1, 2, 3]
    for ra, rb in zip(a, b, strict=True):  # same rows in the same order, same optimizer state
        for k in ("loss", "head_loss", "lm_loss", "pet"):
            assert rb[k] == pytest.approx(ra[k], rel=1e-4, abs=1e-5), (k, ra["step"])
    _, ta = read_adapter(ref / "adapter.gguf")
    _, tb = read_adapter(out / "adapter.gguf")
    for name in ("blk.0.attn_q.weight.lora_b", "blk.15.ffn_up.weight.lora_a", "blk.29.attn_output.weight.lora_b"):
        assert np.allclose(ta[name], tb[name], atol=1e-6), name
