"""Settings the runtime needs, filled by bot.config (the runtime never reads config files)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runtime.base import SAFETY_THRESHOLD


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
    safety_threshold: float = SAFETY_THRESHOLD
    hazard_head: str | None = None  # hazard head file; None = the adapter's or backbone's, else n-grams only
    hazard_threshold: float = 0.5  # p(hazard) at or above it: the hazard's verdict (REFUSE; self-harm: support)
    hazard_review: float = 0.25  # p(hazard) at or above it turns an ALLOW into ESCALATE to triage
    support_review: float = 0.2  # a likely self-harm reading at or above it: support resources + the support channel
    hazard_clear: float = 0.1  # p(hazard) under it ALLOWs an unsure verdict torn between ALLOW and REFUSE
    domain_threshold: float = 0.5  # an ESCALATE whose domain is less sure than this goes to triage
    # the answering model's reading of the request lifts a REFUSE the verdict head alone made when its
    # p(unsafe) is under this and the hazard head is under hazard_review (runtime/second_opinion.py); 0 = off
    second_opinion: float = 0.1
    # the response head on the answering model (runtime/response.py): None = the shipped one, "off" = none
    response_head: str | None = None
    response_unsafe: float = 0.6  # p(unsafe) at or above it stops an answer (REFUSE, reason response_flagged)
    response_unsafe_answer: float | None = 0.95  # the same once the answer is written; None = response_unsafe
    response_escalate: float = 0.6  # p(escalate) at or above it stops an answer (a person takes the case)
    response_every: int = 32  # read the state after this many tokens without a sentence end
    severity_terms: tuple[str, ...] = ()  # admin terms (ja/en) that make ALLOW impossible (a person decides)
    support_terms: tuple[str, ...] = ()  # admin phrases of a person at risk, added to runtime/crisis.py's
    rationale: Literal["template", "generate"] = "template"
    # a pool of llama-servers (runtime/remote.py) evaluates the prompts instead of an in-process model:
    # same GGUF, adapter and heads, the heads applied here; empty = the in-process runtime
    servers: tuple[str, ...] = ()
    # an OpenAI-compatible server (vLLM, Ollama, llama-server) writes ALLOW answers; None = in-process
    answer_server: str | None = None
    answer_server_model: str | None = None  # the "model" field sent to it; None = the answer model's name
    max_answer_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
