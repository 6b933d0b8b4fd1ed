"""The load check itself (with the FakeRuntime; `so8t bench --load` runs it with the real model)."""

from __future__ import annotations

from bot.config import parse_config
from serve.loadbench import run_load
from tests.support.fakes import FakeRuntime


def test_run_load_every_message_answered_exactly_once() -> None:
    rt = FakeRuntime()
    result = run_load(parse_config({}), n=200, runtime=rt)
    assert result["exactly_once"] and result["chain_ok"], result
    assert result["accepted"] == 200 and result["audit_rows"] == 200 and result["pending"] == 0
    assert result["api_p50_ms"] <= result["api_p99_ms"] and result["messages_per_s"] > 0
    assert result["ratio"] is not None and rt.violations == []
