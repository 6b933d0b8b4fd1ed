"""The llama.cpp runtime: ONE prompt evaluation feeds both heads (the only module importing llama_cpp).

decide(): evaluate the prompt from the longest cached prefix up to its second-to-last token, switch
embeddings on for the last token only, read its final hidden state (after the output norm) for the
safety head, switch embeddings off. answer(): continue sampling from that same KV cache;
llama-cpp-python sees the whole prompt cached and samples at once without re-evaluating it.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime.base import Decision, Turn
from runtime.crisis import SUPPORT_TERMS
from runtime.deobfuscate import readable_forms
from runtime.errors import HeadError, ModelLoadError
from runtime.gate import GatePolicy, Signals, fail_closed, gate
from runtime.hazards import HAZARD_CLASSES
from runtime.head import SafetyHead, head_path_for
from runtime.lang import detect_lang
from runtime.models import (
    HEADS_DIR,
    HYBRID_ANSWER_BACKBONE,
    backbone_for,
    fingerprint,
    model_name,
    resolve_model_path,
    shipped_adapter,
)
from runtime.prompts import SYSTEM_PROMPT, build_messages, fallback_template
from runtime.response import (
    RESPONSE_CLASSES,
    RESPONSE_LABELS,
    ResponseHead,
    ResponsePolicy,
    ResponseVerdict,
    ends_sentence,
)
from runtime.settings import ModelSettings

import llama_cpp  # isort: skip
import llama_cpp.llama as llama_module  # isort: skip
from llama_cpp.llama_chat_format import Jinja2ChatFormatter  # isort: skip

log = logging.getLogger(__name__)
llama_log = logging.getLogger("so8t.llama_cpp")  # llama.cpp's own messages (DEBUG; shown with `so8t -v`)
_SENTINEL = "\x00SO8T{}\x00"
_SENTINEL_RE = re.compile("\x00SO8T(\\d+)\x00")


def physical_cores() -> int:
    return max(1, (os.cpu_count() or 2))


# enum ggml_log_level of the bundled llama.cpp (include/ggml.h). llama-cpp-python's own callback uses
# an older numbering that reads WARN as ERROR, so warnings such as "llama_kv_cache_iswa: using
# full-size SWA cache" reached stderr on every model load even with verbose=False.
GGML_LOG_DEBUG, GGML_LOG_INFO, GGML_LOG_WARN, GGML_LOG_ERROR, GGML_LOG_CONT = 1, 2, 3, 4, 5
LLAMA_LOG_ENV = "SO8T_LLAMA_LOG"  # 1 / info / debug: every llama.cpp message on stderr, as llama.cpp writes it


class LlamaLogFilter:
    """Where a llama.cpp log message goes: errors to stderr always; warnings to the `so8t.llama_cpp`
    logger at DEBUG (`so8t -v` shows them); info/debug dropped (their model-load chatter is hundreds of
    lines) unless $SO8T_LLAMA_LOG asks for everything on stderr. Pieces of one line are joined."""

    def __init__(self, logger: logging.Logger = llama_log, env: str | None = None) -> None:
        self.logger = logger
        self.env = env
        self._level = GGML_LOG_INFO
        self._pending = ""

    def _everything(self) -> bool:
        value = (self.env if self.env is not None else os.environ.get(LLAMA_LOG_ENV, "")).strip().lower()
        return value not in ("", "0", "off", "false", "no")

    def __call__(self, level: int, text: str) -> None:
        if level != GGML_LOG_CONT:
            self._level = level
        level = self._level
        if level >= GGML_LOG_ERROR or self._everything():
            sys.stderr.write(text)
            sys.stderr.flush()
            return
        if level != GGML_LOG_WARN:
            return
        self._pending += text
        while "\n" in self._pending:
            line, _, self._pending = self._pending.partition("\n")
            if line.strip():
                self.logger.debug("%s", line.rstrip())


_log_filter = LlamaLogFilter()


@llama_cpp.llama_log_callback  # type: ignore[misc]
def _llama_log_callback(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    with contextlib.suppress(Exception):  # an exception must never cross back into C
        _log_filter(int(level), text.decode("utf-8", errors="replace") if text else "")


llama_cpp.llama_log_set(_llama_log_callback, ctypes.c_void_p(0))  # replaces llama-cpp-python's (kept alive here)


@contextlib.contextmanager
def _no_extra_bufts() -> Iterator[None]:
    """Load with use_extra_bufts=False: the AMX extra buffer type segfaults on the first decode on
    AVX-512/AMX CPUs with a native build (docs/architecture.md, "The AMX crash")."""
    original = llama_module.llama_cpp.llama_model_default_params

    def patched() -> Any:
        params = original()
        if hasattr(params, "use_extra_bufts"):
            params.use_extra_bufts = False
        return params

    llama_module.llama_cpp.llama_model_default_params = patched
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


@functools.lru_cache(maxsize=65536)
def _chinese_only(ch: str) -> bool:
    """A CJK ideograph of simplified Chinese that Japanese does not write (GB 2312 but not cp932)."""
    if not "\u4e00" <= ch <= "\u9fff":
        return False
    try:
        ch.encode("cp932")
        return False
    except UnicodeEncodeError:
        pass
    try:
        ch.encode("gb2312")
        return True
    except UnicodeEncodeError:
        return False


def adapter_base(adapter_file: Path) -> dict[str, Any] | None:
    """The base model an adapter was trained on ({name, fingerprint, ...} from its manifest.json), if known."""
    manifest = adapter_file.parent / "manifest.json"
    try:
        base = json.loads(manifest.read_text(encoding="utf-8")).get("base")
    except (OSError, ValueError, AttributeError):
        return None
    return base if isinstance(base, dict) and isinstance(base.get("name"), str) else None


@dataclasses.dataclass(frozen=True)
class ModelFiles:
    """Which files a model setting serves (the GGUF, the LoRA adapter, the heads), found without loading
    anything: LlamaRuntime loads what this names, and `so8t status` shows it."""

    path: Path
    fingerprint: str
    adapter: Path | None  # the adapter.gguf

    @classmethod
    def resolve(cls, settings: ModelSettings) -> ModelFiles:
        """model.adapter as given ("none" = no adapter), else the backbone's shipped default adapter; an
        adapter given without a model serves the base it was trained on (its manifest), and one trained on
        another model than model.path is refused in one line."""
        explicit = _adapter_file(settings.adapter) if settings.adapter is not None else None
        base = adapter_base(explicit) if explicit is not None else None
        path = resolve_model_path(settings.path or (base or {}).get("name"))
        fp = fingerprint(path)
        if base and base.get("fingerprint") not in (None, fp):
            raise ModelLoadError(
                f"adapter {explicit.parent if explicit else ''} was trained on {base.get('name')} "
                f"({base.get('fingerprint')}), not {model_name(path)}: set SO8T_MODEL={base.get('name')} or unset "
                "SO8T_MODEL"
            )
        if settings.adapter is None and (backbone := backbone_for(path)) is not None:
            explicit = _adapter_file(backbone.adapter)
        return cls(path, fp, explicit)

    def head_path(self, settings: ModelSettings) -> Path:
        """The head this model serves: model.head, else the adapter's head.npz, else the backbone's shipped one."""
        if settings.head:
            return Path(settings.head)
        if self.adapter is not None and (self.adapter.parent / "head.npz").is_file():
            return self.adapter.parent / "head.npz"
        return head_path_for(self.fingerprint, HEADS_DIR)

    def hazard_path(self, settings: ModelSettings) -> Path | None:
        """model.hazard_head, else the adapter's hazard.npz, else the backbone's, else the n-gram-only one
        that any backbone can serve; None when none is shipped or it is set to "none" (then the verdict head
        decides alone: the ablation)."""
        if settings.hazard_head:
            return None if settings.hazard_head.lower() in ("none", "off") else Path(settings.hazard_head)
        candidates = [HEADS_DIR / f"hazard-{self.fingerprint}.npz", HEADS_DIR / "hazard-ngrams.npz"]
        if self.adapter is not None:
            candidates.insert(0, self.adapter.parent / "hazard.npz")
        return next((p for p in candidates if p.is_file()), None)

    @staticmethod
    def response_path(settings: ModelSettings, state_key: str) -> Path | None:
        """model.response_head, else the shipped head for these states (the GGUF and its prompt format: a
        response head reads the answering model); None when there is none or it is set to "off"."""
        if settings.response_head:
            return None if settings.response_head.lower() in ("none", "off") else Path(settings.response_head)
        shipped = response_head_path(state_key)
        return shipped if shipped.is_file() else None


def response_head_path(state_key: str) -> Path:
    return HEADS_DIR / f"response-{state_key}.npz"


def _adapter_file(adapter: str | None) -> Path | None:
    """The adapter.gguf that model.adapter names (a directory, a file, or a shipped adapter's name); None
    for none."""
    if not adapter or adapter.lower() in ("none", "off"):
        return None
    p = Path(adapter)
    if not p.exists() and (shipped := shipped_adapter(adapter)) is not None:
        p = shipped  # a shipped adapter by name, e.g. SO8T_ADAPTER=gemma3-270m
    f = p / "adapter.gguf" if p.is_dir() else p
    if not f.is_file():
        raise ModelLoadError(f"LoRA adapter not found: {f} (set SO8T_ADAPTER to a directory made by `so8t train`)")
    return f


class LlamaRuntime:
    """The dual-head model: SafetyHeadB on the last hidden state, TaskHeadA = the LM head (+ LoRA)."""

    def __init__(
        self,
        settings: ModelSettings,
        head: SafetyHead | None = None,
        *,
        with_head: bool = True,
        system_prompt: str = SYSTEM_PROMPT,
    ) -> None:
        """Load the GGUF (and LoRA adapter) and the safety head; with_head=False loads the backbone only
        (for `so8t train-head`, which computes the states the head is trained on, and for a hybrid's
        answer model, which reads its own system_prompt)."""
        self.settings = settings
        self.system_prompt = system_prompt
        self.files = ModelFiles.resolve(settings)
        self.path, self.fingerprint, self.adapter_path = self.files.path, self.files.fingerprint, self.files.adapter
        self.name = model_name(self.path)
        t0 = time.perf_counter()
        try:
            self.llm = self._load_llm(settings)
        except Exception as exc:  # noqa: BLE001 - llama.cpp reports load failures as ValueError/RuntimeError
            backbone = backbone_for(self.path)
            fix = f"reinstall it ({backbone.install_hint()})" if backbone else "point SO8T_MODEL at a valid GGUF"
            raise ModelLoadError(
                f"model file could not be loaded: {self.path} ({exc}) — the file may be corrupt; {fix}"
            ) from None
        self.load_ms = (time.perf_counter() - t0) * 1000
        self.n_embd = self.llm.n_embd()
        self._ctx = self.llm._ctx.ctx if self.llm._ctx is not None else None
        self.has_chat_template = bool(self.llm.metadata.get("tokenizer.chat_template"))
        template = self.llm.metadata.get("tokenizer.chat_template") or fallback_template(
            self.llm.metadata.get("general.architecture", "")
        )
        eos = self.llm._model.token_get_text(self.llm.token_eos())
        bos = self.llm._model.token_get_text(self.llm.token_bos()) if self.llm.token_bos() >= 0 else ""
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._prompt_key = hashlib.sha256((system_prompt + "\x00" + template).encode()).hexdigest()[:6]
        self._stop = [eos, "<|im_end|>", "<end_of_turn>"]
        self._head: SafetyHead | None = head if head is not None or not with_head else self._load_head(settings)
        self._hazard: SafetyHead | None = self._load_hazard(settings) if with_head else None
        self.policy = GatePolicy(
            threshold=settings.safety_threshold,
            hazard_threshold=settings.hazard_threshold,
            hazard_review=settings.hazard_review,
            hazard_clear=settings.hazard_clear,
            support_review=settings.support_review,
            domain_threshold=settings.domain_threshold,
            severity_terms=settings.severity_terms,
            support_terms=SUPPORT_TERMS + settings.support_terms,
        )
        self._lock = threading.RLock()
        self._banned: np.ndarray | None = None
        self.last_finish_reason: str | None = None  # of the last answer(): "stop" | "length" | "flagged"
        self.last_response: ResponseVerdict | None = None  # the response head's last reading of the last answer
        self._response: ResponseHead | None = self._load_response(settings)
        self.stats = {"prompt_tokens": 0, "prompt_tokens_evaluated": 0, "requests": 0}

    # ---- loading -------------------------------------------------------------------------------
    def _load_llm(self, settings: ModelSettings) -> Any:
        """The llama.cpp model with its context (and LoRA adapter); runtime/remote.py loads the vocabulary only."""
        threads = settings.threads or physical_cores()
        with _no_extra_bufts():
            return llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=settings.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=512,
                seed=settings.seed,
                verbose=False,
                lora_path=str(self.adapter_path) if self.adapter_path else None,
            )

    def head_path(self, settings: ModelSettings) -> Path:
        return self.files.head_path(settings)

    def _load_head(self, settings: ModelSettings) -> SafetyHead:
        return SafetyHead.load(self.head_path(settings), expect_backbone=self.fingerprint, expect_n_embd=self.n_embd)

    def hazard_path(self, settings: ModelSettings) -> Path | None:
        return self.files.hazard_path(settings)

    def _load_hazard(self, settings: ModelSettings) -> SafetyHead | None:
        path = self.hazard_path(settings)
        if path is None:
            return None
        head = SafetyHead.load(path, labels=("safe", "hazard"), categories=HAZARD_CLASSES)
        if head.params.use_hidden and (head.backbone != self.fingerprint or head.n_embd != self.n_embd):
            raise HeadError(
                f"hazard head {path.name} was trained for backbone {head.backbone_name} ({head.backbone}), not the "
                f"loaded model ({self.fingerprint}); train one with `so8t train-hazard` or set SO8T_HAZARD_HEAD"
            )
        return head

    def _load_response(self, settings: ModelSettings) -> ResponseHead | None:
        """model.response_head, else the shipped one for this model and prompt format (if any); "off": none."""
        path = self.files.response_path(settings, self.state_key)
        if path is None:
            return None
        policy = ResponsePolicy(
            unsafe_threshold=settings.response_unsafe,
            escalate_threshold=settings.response_escalate,
            every=settings.response_every,
            answer_threshold=settings.response_unsafe_answer,
        )
        return ResponseHead.load(path, state_key=self.state_key, n_embd=self.n_embd, policy=policy)

    @property
    def response_head_id(self) -> str | None:
        return self._response.head_id if self._response is not None else None

    # ---- identity -----------------------------------------------------------------------------
    @property
    def state_key(self) -> str:
        """What the hidden states depend on (the key of the state caches): the GGUF, the prompt format
        (system prompt + chat template), and the adapter when one is loaded."""
        key = f"{self.fingerprint}-p{self._prompt_key}"
        return key if self.adapter_path is None else f"{key}-{fingerprint(self.adapter_path)[:8]}"

    @property
    def model_id(self) -> str:
        adapter = f"+{self.adapter_path.parent.name}" if self.adapter_path else ""
        return f"{self.name}@{self.fingerprint}{adapter}"

    @property
    def head(self) -> SafetyHead:
        if self._head is None:
            raise HeadError("no safety head loaded (backbone-only runtime)")
        return self._head

    @property
    def head_id(self) -> str:
        return self._head.head_id if self._head is not None else "none"

    def info(self) -> dict[str, object]:
        return {
            "model": self.name,
            "kind": backbone.kind if (backbone := backbone_for(self.path)) else "custom",
            "licence": backbone.licence if backbone else "see the model's own licence",
            "model_path": str(self.path),
            "fingerprint": self.fingerprint,
            "adapter": str(self.adapter_path) if self.adapter_path else None,
            "head": self.head_id,
            "hazard_head": self._hazard.head_id if self._hazard is not None else None,
            "response_head": self.response_head_id,
            "head_metrics": self._head.meta.get("metrics", {}) if self._head else {},
            "n_ctx": self.settings.n_ctx,
            "threshold": self.settings.safety_threshold,
            "load_ms": round(self.load_ms, 1),
        }

    # ---- the single forward pass ---------------------------------------------------------------
    def tokens_for(self, context: Sequence[Turn], request: str, system: str | None = None) -> list[int]:
        """Prompt tokens; message contents are tokenized as plain text so injected markers stay text."""
        msgs = build_messages(context, request, system or self.system_prompt)
        contents = [m["content"] for m in msgs]
        masked = [{"role": m["role"], "content": _SENTINEL.format(i)} for i, m in enumerate(msgs)]
        rendered = self._formatter(messages=masked).prompt  # type: ignore[arg-type]
        tokens: list[int] = []
        pos = 0
        for m in _SENTINEL_RE.finditer(rendered):
            if m.start() > pos:
                tokens += self.llm.tokenize(rendered[pos : m.start()].encode(), add_bos=False, special=True)
            tokens += self.llm.tokenize(
                contents[int(m.group(1))].encode("utf-8", "replace"), add_bos=False, special=False
            )
            pos = m.end()
        if pos < len(rendered):
            tokens += self.llm.tokenize(rendered[pos:].encode(), add_bos=False, special=True)
        budget = self.settings.n_ctx - self.settings.max_answer_tokens - 8
        if len(tokens) > budget:  # keep the system prefix and the end of the prompt
            keep_head = min(64, budget // 4)
            tokens = tokens[:keep_head] + tokens[-(budget - keep_head) :]
        return tokens

    def _evaluate(self, tokens: list[int]) -> np.ndarray:
        """Evaluate `tokens` reusing the cached prefix; return the last token's final hidden state."""
        llm = self.llm
        cached = llm.input_ids[: llm.n_tokens]
        common = 0
        limit = min(len(cached), len(tokens) - 1)
        while common < limit and cached[common] == tokens[common]:
            common += 1
        llm.n_tokens = common  # eval() drops the KV cells past n_tokens
        llm.eval(tokens[common:-1])
        llama_cpp.llama_set_embeddings(self._ctx, True)
        try:
            llm.eval(tokens[-1:])
            ptr = llama_cpp.llama_get_embeddings_ith(self._ctx, -1)
            if not ptr:
                raise RuntimeError("llama.cpp returned no hidden state")
            state = np.ctypeslib.as_array(ptr, shape=(self.n_embd,)).astype(np.float32, copy=True)
        finally:
            llama_cpp.llama_set_embeddings(self._ctx, False)
        self.stats["prompt_tokens"] += len(tokens)
        self.stats["prompt_tokens_evaluated"] += len(tokens) - common
        return state

    def hidden_state(self, context: Sequence[Turn], request: str) -> np.ndarray:
        with self._lock:
            return self._evaluate(self.tokens_for(context, request))

    def signals(self, context: Sequence[Turn], request: str) -> list[Signals]:
        """Both heads on every readable form of the request (the original, its normalised form without
        invisible characters or chat markers, and what base64/hex/ROT13/URL-encoding hid). Only the
        original is evaluated for plain text; the original goes last so the KV cache holds it for answer()."""
        forms = readable_forms(request)
        thread = "\n".join([t.text for t in context if t.role == "user"][-3:])
        out: list[Signals] = []
        with self._lock:
            for kind, text in reversed(forms):
                tokens = self.tokens_for(context, text)
                state = self._evaluate(tokens)[None, :]
                pv, pc = self.head.predict(state, [text])
                ph = phc = None
                if self._hazard is not None:  # its n-grams read the thread too: a request split over turns
                    ph, phc = self._hazard.predict(state, [f"{thread}\n{text}" if thread else text])
                out.append(
                    Signals(
                        kind,
                        text,
                        pv[0],
                        pc[0],
                        ph=None if ph is None else ph[0],
                        phc=None if phc is None else phc[0],
                        n_tokens=len(tokens),
                    )
                )
        out.reverse()
        return out

    def decide(self, context: Sequence[Turn], request: str) -> Decision:
        """R_safe: the verdict, computed before anything is generated. Never raises (fails closed)."""
        lang = detect_lang(request or "")
        if not (request or "").strip():
            return fail_closed(lang, reason="empty_input", model_id=self.model_id, head_id=self.head_id)
        t0 = time.perf_counter()
        try:
            with self._lock:
                sigs = self.signals(context, request)
                self.stats["requests"] += 1
            timings = {
                "total_ms": (time.perf_counter() - t0) * 1000,
                "prompt_tokens": sigs[0].n_tokens,  # the original form's
                "forms": len(sigs),
            }
            decision = gate(sigs, lang, self.policy, model_id=self.model_id, head_id=self.head_id, timings=timings)
            if (
                self.settings.rationale == "generate"
                and decision.decision != "ALLOW"
                and decision.reason in ("model", "threshold")
            ):
                generated = self.generate_rationale(decision, context, request)
                if generated:
                    decision = dataclasses.replace(decision, rationale=generated)
            return decision
        except Exception as exc:  # noqa: BLE001 - fail closed: a person decides, the caller never crashes
            # an error may name its cause (runtime/remote.py: no model server left -> model_unavailable),
            # kept in the decision's signals; the reason stays runtime_error (the bot's model-failure card)
            failure = getattr(exc, "fail_reason", None)
            if failure is None:
                log.exception("safety head failed; failing closed")
            else:
                log.error("failing closed (%s): %s", failure, exc)
            closed = fail_closed(
                lang,
                model_id=self.model_id,
                head_id=self.head_id,
                timings={"total_ms": (time.perf_counter() - t0) * 1000},
            )
            if failure is None:
                return closed
            return dataclasses.replace(closed, signals={"failure": str(failure), "error": str(exc)[:500]})

    def chinese_only_tokens(self) -> np.ndarray:
        """Ids of the vocabulary's tokens that hold a Chinese-only character (a hanzi in GB 2312 that
        Japanese text never uses: not in JIS X 0208 / cp932). Small multilingual models drift into Chinese
        mid-answer in Japanese (and English); the bot answers in ja or en only, so these tokens are never
        sampled. Computed once per model (about 0.7 s for Qwen's 152k tokens)."""
        if self._banned is None:
            out = []
            for i in range(self.llm.n_vocab()):
                if any(_chinese_only(c) for c in self.llm.detokenize([i]).decode("utf-8", "ignore")):
                    out.append(i)
            self._banned = np.array(out, dtype=np.int64)
        return self._banned

    def screen(self, context: Sequence[Turn], request: str) -> ResponseVerdict | None:
        """The response head's reading of the request alone (position 0, before any answer token), as
        answer() makes it first; None without a response head. The KV cache keeps the prompt for answer()."""
        if self._response is None:
            return None
        with self._lock:
            state = self._evaluate(self.tokens_for(context, request))
        return self._response.read(state, request, "", position=0, checks=1)

    def answer(
        self, context: Sequence[Turn], request: str, max_tokens: int | None = None, documents: str | None = None
    ) -> Iterator[str]:
        """R_cmd: stream the answer, continuing from the KV cache decide() left (no second prompt eval).

        The loop is the runtime's own (greedy, or top-k sampling at a temperature) so that, with a response
        head loaded, the hidden state can be read at sentence ends from the same cache (runtime/response.py):
        text is then released only up to the last position the head cleared, and a flagged answer stops
        there. `last_finish_reason` says afterwards why it ended ("stop", "length": max_tokens ran out
        mid-answer, "flagged": the response head stopped it, see `last_response`). `documents` (the team's
        passages, kb.render) go into the system turn after the answer prompt, tokenized as plain text."""
        with self._lock:
            self.last_finish_reason = None
            self.last_response = None
            system = f"{self.system_prompt}\n\n{documents}" if documents else None
            yield from self._generate(context, request, max_tokens or self.settings.max_answer_tokens, system)

    def _logits(self) -> np.ndarray:
        ptr = llama_cpp.llama_get_logits_ith(self._ctx, -1)
        if not ptr:
            raise RuntimeError("llama.cpp returned no logits")
        return np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).copy()

    def _eval_token(self, token: int, *, read_state: bool) -> np.ndarray | None:
        """Evaluate one generated token; with read_state, its final hidden state (embeddings on for it only)."""
        if not read_state:
            self.llm.eval([token])
            return None
        llama_cpp.llama_set_embeddings(self._ctx, True)
        try:
            self.llm.eval([token])
            ptr = llama_cpp.llama_get_embeddings_ith(self._ctx, -1)
            if not ptr:
                raise RuntimeError("llama.cpp returned no hidden state")
            return np.ctypeslib.as_array(ptr, shape=(self.n_embd,)).astype(np.float32, copy=True)
        finally:
            llama_cpp.llama_set_embeddings(self._ctx, False)

    def _generate(
        self, context: Sequence[Turn], request: str, max_tokens: int, system: str | None = None
    ) -> Iterator[str]:
        import codecs

        monitor = self._response
        # the request alone is read as the response head learned it: the answer prompt without documents
        # (with them in the system turn the state is one it never saw: 6 of 51 handbook questions were
        # stopped before their first word). The two prompts share the system prompt in the KV cache, so
        # this costs the request's own tokens; the answer is then written with the documents.
        first = self._evaluate(self.tokens_for(context, request)) if system and monitor is not None else None
        state = self._evaluate(self.tokens_for(context, request, system))  # without documents: cached, one token
        checks = 0

        def read(state: np.ndarray, answer: str, position: int) -> bool:
            """Read the response head; True when the answer may go on."""
            nonlocal checks
            if monitor is None:
                return True
            checks += 1
            verdict = monitor.read(state, request, answer, position=position, checks=checks)
            self.last_response = verdict
            return not verdict.flagged

        if not read(state if first is None else first, "", 0):
            self.last_finish_reason = "flagged"
            return
        banned = self.chinese_only_tokens()
        vocab = llama_cpp.llama_model_get_vocab(self.llm._model.model)
        rng = np.random.default_rng(self.settings.seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        every = monitor.policy.every if monitor is not None else 0
        text, released, since_check, n = "", 0, 0, 0
        reason = "length"
        for n in range(1, max_tokens + 1):
            logits = self._logits()
            if banned.size:
                logits[banned] = -np.inf
            token = self._sample(logits, rng)
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                reason = "stop"
                break
            piece = decoder.decode(self.llm.detokenize([token]))
            text += piece
            stop_at = min((i for s in self._stop if s and (i := text.find(s)) >= 0), default=-1)
            if stop_at >= 0:
                text, reason = text[:stop_at], "stop"
                break
            since_check += 1
            at_boundary = monitor is not None and (ends_sentence(piece) or since_check >= every)
            state_n = self._eval_token(token, read_state=at_boundary)
            if monitor is None:
                if piece:
                    yield piece
                continue
            if state_n is not None:
                since_check = 0
                if not read(state_n, text, n):
                    self.last_finish_reason = "flagged"
                    return
                if len(text) > released:
                    yield text[released:]
                    released = len(text)
        text += decoder.decode(b"", final=True)
        if monitor is not None and len(text) > released:
            # the tail since the last read: read the last token's state before it is released
            self.llm.n_tokens -= 1
            last = int(self.llm.input_ids[self.llm.n_tokens])
            state_n = self._eval_token(last, read_state=True)
            if state_n is not None and not read(state_n, text, n):
                self.last_finish_reason = "flagged"
                return
            yield text[released:]
        self.last_finish_reason = reason

    def _sample(self, logits: np.ndarray, rng: np.random.Generator) -> int:
        """Greedy at temperature 0, else top-k 40 sampling (seeded)."""
        temperature = self.settings.temperature
        if temperature <= 0:
            return int(np.argmax(logits))
        top = np.argpartition(logits, -40)[-40:]
        z = logits[top] / temperature
        p = np.exp(z - z.max())
        return int(top[rng.choice(top.size, p=p / p.sum())])

    def generate_rationale(self, decision: Decision, context: Sequence[Turn], request: str) -> str | None:
        """`rationale: generate`: one sentence by the LM, continuing the same KV cache; None on failure."""
        leads = {
            "en": {
                "REFUSE": "I can't help with this ({c} policy) because",
                "ESCALATE": "A human {c} reviewer should handle this because",
            },
            "ja": {
                "REFUSE": "この依頼は{c}の規程によりお手伝いできません。理由は、",
                "ESCALATE": "この件は{c}の担当者が対応すべきです。理由は、",
            },
        }
        prefix = leads.get(decision.lang, leads["en"]).get(decision.decision)
        if prefix is None:
            return None
        prefix = prefix.format(c=decision.category)
        with self._lock:
            tokens = self.tokens_for(context, request) + self.llm.tokenize(
                prefix.encode(), add_bos=False, special=False
            )
            out = self.llm.create_completion(
                prompt=tokens, max_tokens=40, temperature=0.0, top_k=1, stop=self._stop + ["\n", ".", "。"]
            )
        text = str(out["choices"][0]["text"]).strip()  # type: ignore[index]
        if len(text) < 8:
            return None
        return f"{prefix}{text}。" if decision.lang == "ja" else f"{prefix} {text}."


class VocabOnly:
    """A GGUF's tokenizer and metadata without its weights or a context: what LlamaRuntime reads from
    `self.llm` to build prompts, for a runtime whose forward pass runs elsewhere (runtime/remote.py)."""

    def __init__(self, path: Path) -> None:
        from llama_cpp._internals import LlamaModel

        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self._model = LlamaModel(path_model=str(path), params=params, verbose=False)
        self.metadata: dict[str, str] = self._model.metadata()
        self._ctx = None

    def n_embd(self) -> int:
        """The hidden size, from the metadata (a vocabulary-only load leaves llama_model_n_embd at 0)."""
        arch = self.metadata.get("general.architecture", "")
        return int(self.metadata.get(f"{arch}.embedding_length") or self._model.n_embd())

    def token_eos(self) -> int:
        return int(self._model.token_eos())

    def token_bos(self) -> int:
        return int(self._model.token_bos())

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return list(self._model.tokenize(text, add_bos=add_bos, special=special))


def count_tokens(path: Path, texts: Sequence[str]) -> list[int]:
    """Tokens per text with a GGUF's own tokenizer: the vocabulary only (well under a second), and no
    context, whose creation would print llama.cpp warnings into `so8t models --json`."""
    from llama_cpp._internals import LlamaModel

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = LlamaModel(path_model=str(path), params=params, verbose=False)
    try:
        return [len(model.tokenize(t.encode("utf-8"), add_bos=False, special=False)) for t in texts]
    finally:
        model.close()


def quantize_gguf(src: Path, dst: Path, qtype: str, threads: int | None = None) -> None:
    """llama.cpp's quantizer (llama_model_quantize): src GGUF (F32/F16) -> dst of `qtype` (e.g. Q4_K_M).

    Writes to a temporary name first, so a failed run never leaves a half-written dst behind."""

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype.upper()}", None)
    if ftype is None:
        raise ValueError(f"llama.cpp has no quantization type {qtype}")
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(ftype)
    params.nthread = threads or physical_cores()
    tmp = dst.with_suffix(".tmp")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise ModelLoadError(f"llama.cpp could not quantize {src.name} to {qtype} (code {rc})")
    tmp.replace(dst)


def describe_model(settings: ModelSettings) -> dict[str, Any]:
    """What LlamaRuntime would serve, without loading the model (for `so8t status`): the GGUF's name and
    fingerprint, the adapter, and the verdict and hazard heads' ids from their files' metadata. The same
    path rules as LlamaRuntime; a file that cannot be read is reported in the entry, not raised."""
    out: dict[str, Any] = {}
    try:
        rt = ModelFiles.resolve(settings)
    except (ModelLoadError, OSError) as exc:
        return {"model_id": None, "model_file": settings.path, "error": str(exc)}
    adapter = f"+{rt.adapter.parent.name}" if rt.adapter else ""
    out["model_id"] = f"{model_name(rt.path)}@{rt.fingerprint}{adapter}"
    out["model_file"] = str(rt.path)
    out["adapter"] = str(rt.adapter.parent) if rt.adapter else None
    head_file = rt.head_path(settings)
    out["head_file"] = str(head_file)
    try:
        out["head_id"] = SafetyHead.load(head_file).head_id
    except HeadError as exc:
        out["head_id"], out["head_error"] = None, str(exc)
    hazard_file = rt.hazard_path(settings)
    out["hazard_head_file"] = str(hazard_file) if hazard_file else None
    out["hazard_head_id"] = None
    if hazard_file is not None:
        try:
            out["hazard_head_id"] = SafetyHead.load(
                hazard_file, labels=("safe", "hazard"), categories=HAZARD_CLASSES
            ).head_id
        except HeadError as exc:
            out["hazard_head_error"] = str(exc)
    out["response_heads"] = _response_heads(settings)
    return out


def _response_heads(settings: ModelSettings) -> list[str]:
    """Ids of the response heads that would watch answers: the configured file, else the shipped ones for the
    answering model's GGUF (which one applies depends on its prompt format, known once it is loaded)."""
    if settings.response_head:
        if settings.response_head.lower() in ("none", "off"):
            return []
        files = [Path(settings.response_head)]
    else:
        try:
            own = ModelFiles.resolve(settings).path
            answer = settings.answer_model
            if answer is None:  # automatic, as runtime.loader: a base backbone gets the embedded instruct model
                backbone = backbone_for(own)
                answer = HYBRID_ANSWER_BACKBONE.name if backbone is not None and backbone.kind == "base" else "self"
            gguf = own if answer == "self" else resolve_model_path(answer)
        except (ModelLoadError, OSError):
            return []
        files = sorted(HEADS_DIR.glob(f"response-{fingerprint(gguf)}-*.npz"))
    out = []
    for f in files:
        try:
            out.append(SafetyHead.load(f, labels=RESPONSE_LABELS, categories=RESPONSE_CLASSES).head_id)
        except HeadError as exc:
            out.append(f"{f.name}: {exc}")
    return out
