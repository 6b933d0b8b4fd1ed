"""A pool of llama.cpp's llama-servers as the model (`model.servers`, docs/scaling.md).

RemoteRuntime is LlamaRuntime with its forward pass moved out of the process: the prompt is built and
tokenized here exactly as in-process (the same chat template, the same plain-text tokenization of message
contents, from the GGUF's own vocabulary), the token ids go to a llama-server's /embedding endpoint
(started with `--embeddings --pooling last` and the same LoRA adapter, request with `embd_normalize: -1`,
i.e. no normalisation), and the state it returns — the final hidden state of the prompt's last token,
after the output norm — feeds the same verdict and hazard heads through the same gate (LlamaRuntime's own
`signals` and `decide`). The verdict therefore equals the in-process one (tests/runtime/test_remote.py).

ServerPool balances over the servers on the client side: the least busy healthy server first (ties in
turn), a server that fails (refused, reset, timed out, 5xx, a malformed reply) is marked down and the
request is retried on another; a down server returns to the rotation once its /health answers again.
When no server is left the error carries `fail_reason = "model_unavailable"` and LlamaRuntime.decide
fails closed: ESCALATE, reason runtime_error (the bot's model-failure card), and the decision's signals
say `failure: model_unavailable` with each server's error.

Answers (after the verdict) come from `model.answer_server`, any OpenAI-compatible server (vLLM, Ollama,
llama-server) through /v1/chat/completions, streamed; without it, from the in-process answer model as
runtime.loader chooses it. The response head (runtime/response.py) reads the answering model's states,
which an OpenAI server does not return: with an answer server it is off, and the answer guard alone
checks the text (the verdict, made before, is unchanged).

Only the standard library talks HTTP here (urllib): nothing is downloaded, every address is configured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import itertools
import json
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime.base import Turn
from runtime.errors import ModelLoadError
from runtime.llama import LlamaRuntime, ModelFiles, VocabOnly, physical_cores
from runtime.prompts import ANSWER_SYSTEM_PROMPT, build_messages
from runtime.settings import ModelSettings

log = logging.getLogger(__name__)

LLAMA_SERVER_ENV = "SO8T_LLAMA_SERVER"  # the llama-server binary; else .venv/bin/llama-server, else PATH
FAIL_REASON = "model_unavailable"


class ServerError(Exception):
    """One server failed one request (it is marked down; the pool tries another)."""


class RequestError(RuntimeError):
    """A server refused the request itself (4xx): another server would refuse it too, so no retry."""


class PoolExhausted(RuntimeError):
    """No server of the pool could answer: the verdict fails closed (ESCALATE, reason model_unavailable)."""

    fail_reason = FAIL_REASON


@dataclasses.dataclass
class ServerState:
    url: str
    healthy: bool = True
    in_flight: int = 0
    requests: int = 0
    failures: int = 0
    down_since: float = 0.0
    last_error: str = ""
    verified: bool = False  # it serves the expected model (checked before its first request, again after it was down)

    def to_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "healthy": self.healthy,
            "in_flight": self.in_flight,
            "requests": self.requests,
            "failures": self.failures,
            "last_error": self.last_error,
        }


def _url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"a model server address must start with http:// or https://, got {url!r}")
    return url


class ServerPool:
    """Client-side balancing with health checks over servers that all serve the same model."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float = 120.0,  # a long prompt on a busy CPU takes tens of seconds (docs/scaling.md)
        health_path: str = "/health",
        health_timeout: float = 2.0,
        recheck_after: float = 2.0,
        start: int | None = None,
        verify: Callable[[str], str | None] | None = None,
    ) -> None:
        if not urls:
            raise ValueError("a server pool needs at least one address")
        self.servers = [ServerState(_url(u)) for u in urls]
        self.timeout = timeout
        self.health_path = health_path
        self.health_timeout = health_timeout
        self.recheck_after = recheck_after  # a down server is probed again after this many seconds
        self._lock = threading.Lock()
        # ties go in turn, from a random start (unless given): replicas that each see their own servers idle
        # do not all pick the first one
        self._turn = itertools.count(random.randrange(len(self.servers)) if start is None else start)
        self._checker: threading.Thread | None = None
        # verify(url) -> None when the server serves the expected model, else why not (RemoteRuntime: the
        # GGUF and the LoRA adapter, so that no verdict is ever computed on other weights)
        self.verify = verify

    # ---- health --------------------------------------------------------------------------------
    def probe(self, server: ServerState) -> bool:
        """GET the health path: 200 is healthy (llama-server answers 503 while it loads the model)."""
        try:
            with urllib.request.urlopen(server.url + self.health_path, timeout=self.health_timeout) as resp:
                ok = resp.status == 200
        except (OSError, http.client.HTTPException, ValueError) as exc:
            ok = False
            server.last_error = f"health: {exc}"
        with self._lock:
            if ok and not server.healthy and server.failures:
                log.info("model server %s is back", server.url)
            server.healthy = ok
            if not ok:
                server.down_since = time.monotonic()
        return ok

    def health(self) -> list[dict[str, object]]:
        """Probe every server now; one entry per server (for /healthz and `so8t status`)."""
        for server in self.servers:
            self.probe(server)
        return [s.to_dict() for s in self.servers]

    def _mark_down(self, server: ServerState, error: str) -> None:
        with self._lock:
            server.healthy = False
            server.verified = False  # restarted, it may serve something else: checked again before use
            server.failures += 1
            server.down_since = time.monotonic()
            server.last_error = error
            start = self._checker is None or not self._checker.is_alive()
            if start:
                self._checker = threading.Thread(target=self._check_down, name="so8t-pool-health", daemon=True)
        if start and self._checker is not None:
            self._checker.start()
        log.warning("model server %s failed (%s); trying another", server.url, error)

    def _check_down(self) -> None:
        """The health checker: while a server is down, probe it every `recheck_after` seconds until its
        /health answers 200 again (then it rejoins the rotation); the thread ends when none is down."""
        while True:
            time.sleep(max(self.recheck_after, 0.05))
            down = [s for s in self.servers if not s.healthy]
            if not down:
                return
            for server in down:
                self.probe(server)

    # ---- balancing -----------------------------------------------------------------------------
    def _acquire(self, tried: set[str], errors: list[str] | None = None) -> ServerState | None:
        """The least busy healthy server not tried yet (ties in turn); a down one whose recheck time has
        passed is probed first. None when none is left."""
        while True:
            now = time.monotonic()
            with self._lock:
                healthy = [s for s in self.servers if s.url not in tried and s.healthy]
                stale = [
                    s
                    for s in self.servers
                    if s.url not in tried and not s.healthy and now - s.down_since >= self.recheck_after
                ]
                best = None
                if healthy:
                    turn = next(self._turn)
                    n = len(self.servers)
                    best = min(healthy, key=lambda s: (s.in_flight, (self.servers.index(s) - turn) % n))
                    best.in_flight += 1
                    best.requests += 1
            if best is not None:
                if best.verified or self.verify is None:
                    return best
                try:
                    problem = self.verify(best.url)  # outside the lock: it asks the server
                    if problem is None:
                        best.verified = True
                        return best
                    problem = f"wrong model: {problem}"
                except ServerError as exc:
                    problem = str(exc)
                tried.add(best.url)
                self._release(best)
                self._mark_down(best, problem)
                if errors is not None:
                    errors.append(f"{best.url}: {problem}")
                continue
            if not stale:
                return None
            for server in stale:  # outside the lock: a probe waits on the network
                if not self.probe(server):
                    tried.add(server.url)

    def _release(self, server: ServerState) -> None:
        with self._lock:
            server.in_flight -= 1

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST JSON to one server and return its JSON reply; on a server's failure the next one is tried.
        Raises PoolExhausted when none is left, RequestError when the request itself is refused (4xx)."""
        tried: set[str] = set()
        errors: list[str] = []
        data = json.dumps(body).encode()
        while (server := self._acquire(tried, errors)) is not None:
            tried.add(server.url)
            try:
                return self._post(server, path, data)
            except ServerError as exc:
                errors.append(f"{server.url}: {exc}")
                self._mark_down(server, str(exc))
            finally:
                self._release(server)
        raise PoolExhausted("no model server answered (" + ("; ".join(errors) or "all are down") + ")")

    def _post(self, server: ServerState, path: str, data: bytes) -> Any:
        req = urllib.request.Request(
            server.url + path, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            if exc.code >= 500 or exc.code == 429:
                raise ServerError(f"HTTP {exc.code} {detail}") from None
            raise RequestError(f"{server.url}{path}: HTTP {exc.code} {detail}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:  # refused, reset, timeout, bad JSON
            raise ServerError(f"{type(exc).__name__}: {exc}") from None

    def stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST and yield the server-sent events' JSON payloads. A server that fails before its first event
        is replaced by another; once events have been yielded a failure raises (a retry would repeat text)."""
        tried: set[str] = set()
        errors: list[str] = []
        data = json.dumps(body).encode()
        while (server := self._acquire(tried, errors)) is not None:
            tried.add(server.url)
            started = False
            try:
                for event in self._events(server, path, data):
                    started = True
                    yield event
                return
            except ServerError as exc:
                self._mark_down(server, str(exc))
                if started:
                    raise PoolExhausted(f"the answer server {server.url} failed mid-answer ({exc})") from None
                errors.append(f"{server.url}: {exc}")
            finally:
                self._release(server)
        raise PoolExhausted("no answer server answered (" + ("; ".join(errors) or "all are down") + ")")

    def _events(self, server: ServerState, path: str, data: bytes) -> Iterator[dict[str, Any]]:
        req = urllib.request.Request(
            server.url + path,
            data=data,
            headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                for raw in resp:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    yield json.loads(payload)
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            if exc.code >= 500 or exc.code == 429:
                raise ServerError(f"HTTP {exc.code} {detail}") from None
            raise RequestError(f"{server.url}{path}: HTTP {exc.code} {detail}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise ServerError(f"{type(exc).__name__}: {exc}") from None


class _NoLock(contextlib.AbstractContextManager["_NoLock"]):
    """RemoteRuntime keeps no model state between calls: decisions run concurrently (one per server)."""

    def __exit__(self, *exc: object) -> None:
        return None


class RemoteRuntime(LlamaRuntime):
    """The verdict from a pool of llama-servers: LlamaRuntime's prompt, heads and gate; the state from the pool."""

    def __init__(self, settings: ModelSettings, pool: ServerPool | None = None) -> None:
        if pool is None and not settings.servers:
            raise ModelLoadError("model.servers is empty: give at least one llama-server address")
        self.pool = pool if pool is not None else ServerPool(settings.servers)
        # the response head reads the answering model's states: this runtime decides only
        super().__init__(dataclasses.replace(settings, response_head="off"))
        self._lock = _NoLock()  # type: ignore[assignment]
        self._stats_lock = threading.Lock()
        if self.pool.verify is None:
            self.pool.verify = self.verify_server

    def verify_server(self, url: str) -> str | None:
        """None when the llama-server at `url` serves this runtime's GGUF (/props) with exactly its LoRA
        adapter at scale 1 (/lora-adapters), else what differs: states from other weights would give wrong
        verdicts without any error, so such a server is never used."""
        try:
            with urllib.request.urlopen(url + "/props", timeout=self.pool.health_timeout) as resp:
                props = json.loads(resp.read())
            with urllib.request.urlopen(url + "/lora-adapters", timeout=self.pool.health_timeout) as resp:
                loras = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return f"it has no llama-server /props and /lora-adapters (HTTP {exc.code})"
        except (OSError, http.client.HTTPException) as exc:  # unreachable: a failed server, not a wrong one
            raise ServerError(f"{type(exc).__name__}: {exc}") from None
        except ValueError as exc:
            return f"its /props and /lora-adapters are not llama-server's ({exc})"
        served = Path(str(props.get("model_path", ""))).name if isinstance(props, dict) else ""
        if served != self.path.name:
            return f"it serves {served or '?'}, not {self.path.name}"
        active = [
            a for a in (loras if isinstance(loras, list) else []) if isinstance(a, dict) and a.get("scale", 0) != 0
        ]
        if self.adapter_path is None:
            return f"it applies a LoRA adapter ({active[0].get('path')}) this model does not use" if active else None
        want = (self.adapter_path.parent.name, self.adapter_path.name)
        ok = [a for a in active if (Path(str(a.get("path"))).parent.name, Path(str(a.get("path"))).name) == want]
        if len(active) != 1 or not ok or float(ok[0].get("scale", 0)) != 1.0:
            return f"its LoRA adapters are {[(a.get('path'), a.get('scale')) for a in active]}, not {want[0]} at 1.0"
        return None

    def _load_llm(self, settings: ModelSettings) -> Any:
        return VocabOnly(self.path)

    def _evaluate(self, tokens: list[int]) -> np.ndarray:
        """The final hidden state of the last token, from a server: LAST pooling, not normalised."""
        reply = self.pool.post("/embedding", {"content": tokens, "embd_normalize": -1})
        try:
            item = reply[0] if isinstance(reply, list) else reply
            vec = item["embedding"]
            if vec and isinstance(vec[0], list):  # one pooled vector, wrapped
                vec = vec[-1]
            state = np.asarray(vec, dtype=np.float32)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise RuntimeError(f"a model server's /embedding reply has no embedding ({exc})") from None
        if state.shape != (self.n_embd,):
            raise RuntimeError(
                f"a model server returned a state of size {state.size}, not {self.n_embd}: is it serving "
                f"{self.name} with --embeddings --pooling last?"
            )
        with self._stats_lock:
            self.stats["prompt_tokens"] += len(tokens)
            self.stats["prompt_tokens_evaluated"] += len(tokens)
        return state

    def answer(
        self, context: Sequence[Turn], request: str, max_tokens: int | None = None, documents: str | None = None
    ) -> Iterator[str]:
        raise RuntimeError("the pool decides only: answers come from model.answer_server or the answer model")

    def generate_rationale(self, decision: Any, context: Sequence[Turn], request: str) -> str | None:
        return None  # the template rationale (generation would need the model in-process)

    def info(self) -> dict[str, object]:
        info = super().info()
        info["servers"] = [s.url for s in self.pool.servers]
        info["load_ms"] = round(self.load_ms, 1)
        return info


class OpenAIAnswerer:
    """ALLOW answers from an OpenAI-compatible server (/v1/chat/completions, streamed): vLLM, Ollama,
    llama-server. It never sees a request the verdict did not ALLOW (HybridRuntime calls it after decide)."""

    def __init__(self, settings: ModelSettings, pool: ServerPool | None = None) -> None:
        if pool is None and not settings.answer_server:
            raise ModelLoadError("model.answer_server is not set")
        self.settings = settings
        self.pool = pool if pool is not None else ServerPool([settings.answer_server or ""], health_path="/v1/models")
        self.model = settings.answer_server_model or settings.answer_model or "default"
        self.system_prompt = ANSWER_SYSTEM_PROMPT
        self.last_finish_reason: str | None = None
        self.last_response = None  # no response head: the server returns no hidden states
        self.response_head_id: str | None = None

    @property
    def model_id(self) -> str:
        return f"{self.model}@{self.pool.servers[0].url}"

    def answer(
        self, context: Sequence[Turn], request: str, max_tokens: int | None = None, documents: str | None = None
    ) -> Iterator[str]:
        self.last_finish_reason = None
        system = f"{self.system_prompt}\n\n{documents}" if documents else self.system_prompt
        body: dict[str, Any] = {
            "model": self.model,
            "messages": build_messages(context, request, system),
            "max_tokens": max_tokens or self.settings.max_answer_tokens,
            "temperature": self.settings.temperature,
            "seed": self.settings.seed,
            "stream": True,
        }
        for event in self.pool.stream("/v1/chat/completions", body):
            for choice in event.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    yield str(piece)
                if choice.get("finish_reason"):
                    self.last_finish_reason = "length" if choice["finish_reason"] == "length" else "stop"

    def info(self) -> dict[str, object]:
        return {"model": self.model, "licence": "see the answer server's model", "response_head": None}


def load_remote_runtime(settings: ModelSettings) -> Any:
    """model.servers decide; model.answer_server (else the in-process answer model) answers."""
    from runtime.hybrid import HybridRuntime
    from runtime.loader import load_answerer
    from runtime.models import HYBRID_ANSWER_BACKBONE, backbone_for
    from runtime.second_opinion import SecondOpinion

    safety = RemoteRuntime(settings)
    # the answering model's second opinion on a refusal (runtime/second_opinion.py), as load_runtime sets
    # it; an answer server returns no states, so there the verdict head's refusal stands
    rule = SecondOpinion(unsafe_below=settings.second_opinion, hazard_below=settings.hazard_review)
    if settings.answer_server:
        return HybridRuntime(safety, OpenAIAnswerer(settings), rule)
    answer_model = settings.answer_model
    if answer_model is None:
        backbone = backbone_for(safety.path)
        is_base = backbone.kind == "base" if backbone is not None else not safety.has_chat_template
        answer_model = HYBRID_ANSWER_BACKBONE.name if is_base else "self"
    if answer_model == "self":  # an instruct backbone answers itself: its GGUF in-process, without heads
        answer_model = str(safety.path)
    return HybridRuntime(safety, load_answerer(settings, answer_model), rule)


# ---- running llama-server ----------------------------------------------------------------------
def llama_server_binary() -> Path:
    """$SO8T_LLAMA_SERVER, else the venv's llama-server (`make llama-server`), else one on PATH."""
    env = os.environ.get(LLAMA_SERVER_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(Path(sys.executable).parent / "llama-server")
    if (found := shutil.which("llama-server")) is not None:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(
        "llama-server not found: run `make llama-server` (builds it from the llama.cpp that llama-cpp-python "
        f"{_llama_cpp_version()} vendors) or set {LLAMA_SERVER_ENV}"
    )


def _llama_cpp_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama-cpp-python")
    except PackageNotFoundError:
        return "?"


def server_args(
    settings: ModelSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    threads: int | None = None,
    parallel: int = 1,
    answers: bool = False,
) -> list[str]:
    """llama-server's arguments for the model that `settings` serves in-process: the same GGUF and LoRA
    adapter, the final state of the last token (LAST pooling), the in-process context size per slot, a
    batch that holds a whole prompt (embeddings need one ubatch), no flash attention and no weight
    repacking (as in-process).
    answers=True: the answer model instead (model.answer_model, automatic as in-process), for
    `model.answer_server`: /v1/chat/completions with the GGUF's own chat template, no embeddings."""
    n_threads = threads or settings.threads or physical_cores()
    common = [
        "--ctx-size", str(settings.n_ctx * parallel), "--parallel", str(parallel),
        "--threads", str(n_threads), "--threads-batch", str(n_threads),
        "--host", host, "--port", str(port),
    ]  # fmt: skip
    if answers:
        return ["--model", str(answer_model_path(settings)), "--jinja", *common]
    files = ModelFiles.resolve(settings)
    batch = settings.n_ctx
    args = [
        "--model", str(files.path),
        "--embeddings", "--pooling", "last",
        "--batch-size", str(batch), "--ubatch-size", str(batch),
        "--flash-attn", "off", "--swa-full",
        "--no-repack",  # as in-process (use_extra_bufts=False): the same matmul kernels, the same numbers
        *common,
    ]  # fmt: skip
    if files.adapter is not None:
        args += ["--lora", str(files.adapter)]
    return args


def answer_model_path(settings: ModelSettings) -> Path:
    """The GGUF that writes answers for `settings`, chosen as runtime.loader chooses it (without loading)."""
    from runtime.models import HYBRID_ANSWER_BACKBONE, backbone_for, resolve_model_path

    own = ModelFiles.resolve(settings).path
    answer = settings.answer_model
    if answer is None:
        backbone = backbone_for(own)
        answer = HYBRID_ANSWER_BACKBONE.name if backbone is not None and backbone.kind == "base" else "self"
    return own if answer == "self" else resolve_model_path(answer)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalServer:
    """One llama-server subprocess on this machine (tests, `so8t bench --servers`, `so8t model-server`)."""

    def __init__(
        self,
        settings: ModelSettings,
        *,
        port: int | None = None,
        threads: int | None = None,
        parallel: int = 1,
        log_path: Path | None = None,
        answers: bool = False,
    ) -> None:
        self.settings = settings
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [
            str(llama_server_binary()),
            *server_args(settings, port=self.port, threads=threads, parallel=parallel, answers=answers),
        ]
        self.log_path = log_path
        self._log: Any = None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> LocalServer:
        out: Any = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - closed in stop()
        self._log = out if self.log_path else None
        # servers that share cores with each other (tests, the bench): OpenMP threads that wait passively
        # instead of spinning (measured here: 2 threads, 4 clients, busy machine: 1368 -> 708 CPU ms a verdict)
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        self.proc = subprocess.Popen(
            self.args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + timeout
        probe = ServerPool([self.url], health_timeout=1.0)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise ModelLoadError(f"llama-server exited with {self.proc.returncode}: {' '.join(self.args)}")
            if probe.probe(probe.servers[0]):
                return self
            time.sleep(0.2)
        self.stop()
        raise ModelLoadError(f"llama-server did not become healthy in {timeout:.0f} s: {' '.join(self.args)}")

    def kill(self) -> None:
        """Kill it at once (SIGKILL): what a crashed server looks like to the pool."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe_servers(settings: ModelSettings) -> dict[str, object]:
    """What `so8t status` shows for a pool: each server's health, probed now (nothing is loaded)."""
    servers = ServerPool(settings.servers).health() if settings.servers else []
    return {"servers": servers, "answer_server": settings.answer_server}
