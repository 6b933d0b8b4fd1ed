"""load_runtime(settings): the one way the bot and the CLI get a model."""

from __future__ import annotations

from runtime.base import Runtime
from runtime.models import ANSWER_BACKBONE, backbone_for
from runtime.settings import ModelSettings


def load_runtime(settings: ModelSettings) -> Runtime:
    """Load the llama.cpp runtime; raises runtime.errors.RuntimeLoadError (one-line message) on bad files."""
    from runtime.llama import LlamaRuntime

    safety = LlamaRuntime(settings)
    answer_model = settings.answer_model
    if answer_model is None:  # automatic: a base model cannot follow a chat turn
        backbone = backbone_for(safety.path)
        # an unknown GGUF (e.g. a merged or quantized export of a base model) counts as base when it
        # carries no chat template
        is_base = backbone.kind == "base" if backbone is not None else not safety.has_chat_template
        answer_model = ANSWER_BACKBONE.name if is_base else "self"
    if answer_model == "self":
        return safety
    from dataclasses import replace

    from runtime.hybrid import HybridRuntime

    answer_settings = replace(settings, path=answer_model, adapter=None, head=None, answer_model="self")
    return HybridRuntime(safety, LlamaRuntime(answer_settings, with_head=False))
