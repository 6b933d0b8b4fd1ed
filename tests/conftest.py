"""Shared fixtures: the real embedded model, loaded once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.settings import ModelSettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their keys: a developer's SO8T_AUDIT_KEY / SO8T_DATA_KEY (or .env) does not leak in."""
    for name in ("SO8T_AUDIT_KEY", "SO8T_DATA_KEY", "SO8T_AUDIT_CHECKPOINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session", params=["gemma3-270m", "smollm2"])
def real_runtime(request: pytest.FixtureRequest) -> Iterator[object]:
    """The real llama.cpp runtime on each embedded backbone with its shipped head."""
    from runtime.llama import LlamaRuntime

    rt = LlamaRuntime(ModelSettings(path=request.param, threads=2))
    yield rt
