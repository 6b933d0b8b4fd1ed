"""load_runtime(settings): the one way the bot and the CLI get a model."""

from __future__ import annotations

from runtime.base import Runtime
from runtime.settings import ModelSettings


def load_runtime(settings: ModelSettings) -> Runtime:
    """Load the llama.cpp runtime; raises runtime.errors.RuntimeLoadError (one-line message) on bad files."""
    from runtime.llama import LlamaRuntime

    return LlamaRuntime(settings)
