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


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """A throwaway PostgreSQL cluster for the session (tests/support/postgres.py)."""
    from tests.support.postgres import cluster

    with cluster() as c:
        yield c


@pytest.fixture
def pg_url(pg_cluster: object) -> Iterator[str]:
    """A fresh database on the session's cluster, dropped after the test."""
    from tests.support.postgres import Cluster

    assert isinstance(pg_cluster, Cluster)
    with pg_cluster.database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store on each backend: a SQLite file path, or a postgresql:// URL of a fresh database."""
    if request.param == "sqlite":
        return str(tmp_path / "so8t.db")
    return str(request.getfixturevalue("pg_url"))
