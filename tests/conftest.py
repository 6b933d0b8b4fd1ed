"""Shared fixtures: the real embedded model, loaded once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.settings import ModelSettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def real_runtime() -> Iterator[object]:
    """The real llama.cpp runtime on the embedded SmolLM2 GGUF with the shipped head."""
    from runtime.llama import LlamaRuntime

    rt = LlamaRuntime(ModelSettings(threads=2))
    yield rt
