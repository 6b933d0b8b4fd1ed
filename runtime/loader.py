"""load_runtime(settings): the one way the bot and the CLI get a model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runtime.base import Runtime
from runtime.models import HYBRID_ANSWER_BACKBONE, backbone_for
from runtime.settings import ModelSettings


def load_runtime(settings: ModelSettings) -> Runtime:
    """Load the llama.cpp runtime; raises runtime.errors.RuntimeLoadError (one-line message) on bad files.
    With model.servers the verdict comes from that pool of llama-servers (runtime/remote.py)."""
    if settings.servers:
        from runtime.remote import load_remote_runtime

        return load_remote_runtime(settings)  # type: ignore[no-any-return]
    from runtime.llama import LlamaRuntime

    safety = LlamaRuntime(settings)
    answer_model = settings.answer_model
    if answer_model is None:  # automatic: a base model cannot follow a chat turn
        backbone = backbone_for(safety.path)
        # an unknown GGUF (e.g. a merged or quantized export of a base model) counts as base when it
        # carries no chat template
        is_base = backbone.kind == "base" if backbone is not None else not safety.has_chat_template
        answer_model = HYBRID_ANSWER_BACKBONE.name if is_base else "self"
    if answer_model == "self":
        return safety
    from runtime.hybrid import HybridRuntime
    from runtime.second_opinion import SecondOpinion

    rule = SecondOpinion(unsafe_below=settings.second_opinion, hazard_below=settings.hazard_review)
    return HybridRuntime(safety, load_answerer(settings, answer_model), rule)


def load_answerer(settings: ModelSettings, model: str) -> Any:
    """A hybrid's answer model (backbone name or GGUF): no heads, its own answer prompt (ANSWER_SYSTEM_PROMPT).

    `so8t eval-answers` loads it through here too, so the benchmark measures what the bot serves."""
    from runtime.llama import LlamaRuntime
    from runtime.prompts import ANSWER_SYSTEM_PROMPT

    answer_settings = replace(settings, path=model, adapter=None, head=None, answer_model="self")
    rt = LlamaRuntime(answer_settings, with_head=False, system_prompt=ANSWER_SYSTEM_PROMPT)
    rt.chinese_only_tokens()  # computed at load, not in the first asker's answer
    return rt
