"""Shared fixtures: the real embedded model, loaded once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.settings import ModelSettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", params=["gemma3-270m", "smollm2"])
def real_runtime(request: pytest.FixtureRequest) -> Iterator[object]:
    """The real llama.cpp runtime on each embedded backbone with its shipped head."""
    from runtime.llama import LlamaRuntime

    rt = LlamaRuntime(ModelSettings(path=request.param, threads=2))
    yield rt
