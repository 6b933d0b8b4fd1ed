"""Settings the runtime needs, filled by bot.config (the runtime never reads config files)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ModelSettings:
    path: str | None = None  # GGUF file; None = the embedded default backbone
    # hybrid: a second GGUF (file or backbone name) writes ALLOW answers; None = automatic (a base
    # backbone gets the embedded instruct model, an instruct backbone answers itself); "self" = never
    answer_model: str | None = None
    adapter: str | None = None  # LoRA adapter directory (adapter.gguf + head + manifest)
    head: str | None = None  # safety head file; None = the shipped head for the backbone
    threads: int | None = None  # None = physical cores
    n_ctx: int = 2048
    safety_threshold: float = 0.8
    rationale: Literal["template", "generate"] = "template"
    max_answer_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
