"""llama.cpp's log messages: errors on stderr, warnings as DEBUG logs (so8t -v), info dropped."""

from __future__ import annotations

import logging

import pytest

from runtime.llama import GGML_LOG_CONT, GGML_LOG_ERROR, GGML_LOG_INFO, GGML_LOG_WARN, LlamaLogFilter

SWA = "llama_kv_cache_iswa: using full-size SWA cache (ref: https://github.com/ggml-org/llama.cpp/pull/13194)\n"


def test_warnings_become_debug_logs_and_info_is_dropped(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    f = LlamaLogFilter(logging.getLogger("so8t.llama_cpp"), env="")
    with caplog.at_level(logging.DEBUG, logger="so8t.llama_cpp"):
        f(GGML_LOG_INFO, "llama_model_loader: loaded meta data with 33 key-value pairs\n")
        f(GGML_LOG_WARN, SWA[:20])
        f(GGML_LOG_CONT, SWA[20:])
    assert capsys.readouterr().err == ""
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.DEBUG, SWA.rstrip())]


def test_errors_always_reach_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    f = LlamaLogFilter(env="")
    f(GGML_LOG_ERROR, "llama_model_load: error loading model\n")
    assert "error loading model" in capsys.readouterr().err


def test_the_env_var_shows_everything(capsys: pytest.CaptureFixture[str]) -> None:
    f = LlamaLogFilter(env="1")
    f(GGML_LOG_INFO, "llama_model_loader: loaded meta data\n")
    f(GGML_LOG_WARN, SWA)
    assert capsys.readouterr().err == "llama_model_loader: loaded meta data\n" + SWA
