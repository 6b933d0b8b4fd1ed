"""`so8t bench-pool`: verdicts per second in-process vs over a pool of local llama-servers, in one run.

Runs, all on this machine over loopback (127.0.0.1), on the same prompts:
  in_process      LlamaRuntime.decide, one call at a time (the bot's model worker serializes its calls),
                  the system prefix cached between requests, as served
  in_process_cold the same with the KV cache emptied before each request (the whole prompt evaluated)
  pool_1          RemoteRuntime over 1 llama-server using every core, `concurrency` clients at once
  pool_1_t1       the same server with one thread
  pool_2          RemoteRuntime over 2 llama-servers with half the cores each, `concurrency` clients
  pool_2_killed   as pool_2, and one server is killed (SIGKILL) a third of the way through the burst:
                  its requests in flight are retried on the other; `failed` counts fail-closed verdicts
Per run: requests/s, latency percentiles, and where the time goes: the time inside the pool's HTTP call
(the server's prompt evaluation + transfer) against the client's own work (deobfuscation, tokenizing,
both heads, the gate), and the CPU seconds per request of the servers (from /proc) and of this process.
`cpu_busy` = all CPU seconds / (wall seconds x cores): near 1.0 the cores, not the servers, are the ceiling.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from runtime.bench import BENCH_PROMPTS
from runtime.remote import LocalServer, RemoteRuntime, ServerPool
from runtime.settings import ModelSettings


def _cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process, from /proc (0 where /proc is not there)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def _percentile(xs: Sequence[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


class _Timed:
    """Wraps a pool's post(): the seconds spent inside HTTP calls (server work + transfer), summed."""

    def __init__(self, pool: ServerPool) -> None:
        self.total = 0.0
        self._lock = threading.Lock()
        original = pool.post

        def post(path: str, body: dict[str, Any]) -> Any:
            t = time.perf_counter()
            try:
                return original(path, body)
            finally:
                with self._lock:
                    self.total += time.perf_counter() - t

        pool.post = post  # type: ignore[method-assign]


def _run(
    decide: Callable[[str], Any],
    prompts: Sequence[str],
    concurrency: int,
    pids: Sequence[int],
    on_done: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    latencies: list[float] = []
    failed = 0
    done = 0
    lock = threading.Lock()

    def one(text: str) -> None:
        nonlocal failed, done
        t = time.perf_counter()
        d = decide(text)
        with lock:
            latencies.append(time.perf_counter() - t)
            failed += d.reason == "runtime_error"
            done += 1
            n = done
        if on_done is not None:
            on_done(n)

    cpu0 = _self_cpu()
    srv0 = [_cpu_seconds(p) for p in pids]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as ex:
        list(ex.map(one, prompts))
    wall = time.perf_counter() - t0
    client_cpu = _self_cpu() - cpu0
    server_cpu = sum(_cpu_seconds(p) - s for p, s in zip(pids, srv0, strict=True))
    n = len(prompts)
    return {
        "requests": n,
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
        "requests_per_s": round(n / wall, 2),
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 1),
        "latency_ms_p95": round(_percentile(latencies, 0.95) * 1000, 1),
        "failed": failed,
        "client_cpu_ms_per_request": round(client_cpu / n * 1000, 1),
        "server_cpu_ms_per_request": round(server_cpu / n * 1000, 1),
        "cpu_busy": round((client_cpu + server_cpu) / (wall * (os.cpu_count() or 1)), 2),
    }


def _in_process_run(local: Any, prompts: Sequence[str], cores: int, *, cold: bool = False) -> dict[str, Any]:
    """LlamaRuntime.decide one call at a time, with the time inside its prompt evaluation (`model`); cold:
    the KV cache emptied before each request (no cached system prefix, as a llama-server evaluates)."""
    eval_s = 0.0
    original = local._evaluate

    def timed_evaluate(tokens: list[int]) -> Any:
        nonlocal eval_s
        t = time.perf_counter()
        try:
            return original(tokens)
        finally:
            eval_s += time.perf_counter() - t

    def decide(text: str) -> Any:
        if cold:
            local.llm.reset()
        return local.decide([], text)

    local._evaluate = timed_evaluate
    local.decide([], "warm-up")
    eval_s = 0.0
    try:
        run = _run(decide, prompts, 1, [])
    finally:
        local._evaluate = original
    run["model_ms_per_request"] = round(eval_s / len(prompts) * 1000, 1)
    run["threads"] = cores
    return run


def run_pool_bench(
    settings: ModelSettings,
    *,
    requests: int = 48,
    concurrency: int = 4,
    log_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The four runs above; servers are started here (free loopback ports) and stopped at the end."""
    cores = os.cpu_count() or 1
    prompts = [BENCH_PROMPTS[i % len(BENCH_PROMPTS)] for i in range(requests)]
    out: dict[str, Any] = {"cores": cores, "requests": requests, "concurrency": concurrency, "runs": {}}

    from runtime.llama import LlamaRuntime

    local = LlamaRuntime(dataclasses.replace(settings, threads=cores))
    progress("in_process")
    out["runs"]["in_process"] = _in_process_run(local, prompts, cores)
    progress("in_process_cold")
    out["runs"]["in_process_cold"] = _in_process_run(local, prompts, cores, cold=True)
    del local

    def log(name: str) -> Path | None:
        return log_dir / f"llama-server-{name}.log" if log_dir else None

    def pool_run(name: str, n_servers: int, threads: int, kill_one: bool = False) -> None:
        progress(name)
        servers = [LocalServer(settings, threads=threads, log_path=log(f"{name}-{i}")) for i in range(n_servers)]
        try:
            for s in servers:
                s.start()
            pool = ServerPool([s.url for s in servers], recheck_after=3600)
            remote = RemoteRuntime(settings, pool=pool)
            timer = _Timed(pool)
            for s in servers:  # warm each server once
                ServerPool([s.url]).post("/embedding", {"content": remote.tokens_for([], "warm-up")})
            timer.total = 0.0
            killed_at: list[int] = []

            def on_done(n: int) -> None:
                if kill_one and not killed_at and n >= requests // 3:
                    killed_at.append(n)
                    servers[-1].kill()

            pids = [s.proc.pid for s in servers if s.proc is not None]
            run = _run(lambda t: remote.decide([], t), prompts, concurrency, pids, on_done if kill_one else None)
            run["servers"] = n_servers
            run["threads_per_server"] = threads
            run["http_ms_per_request"] = round(timer.total / requests * 1000, 1)
            run["per_server_requests"] = [s.requests for s in pool.servers]
            run["server_failures"] = [s.failures for s in pool.servers]
            if kill_one:
                run["killed_after_requests"] = killed_at[0] if killed_at else None
            out["runs"][name] = run
        finally:
            for s in servers:
                s.stop()

    pool_run("pool_1", 1, cores)
    pool_run("pool_1_t1", 1, 1)
    pool_run("pool_2", 2, max(1, cores // 2))
    pool_run("pool_2_killed", 2, max(1, cores // 2), kill_one=True)
    base = out["runs"]["in_process"]["requests_per_s"]
    out["speedup_vs_in_process"] = {k: round(v["requests_per_s"] / base, 2) for k, v in out["runs"].items()}
    runs = out["runs"]
    out["pool_2_vs_pool_1"] = round(runs["pool_2"]["requests_per_s"] / runs["pool_1"]["requests_per_s"], 2)
    out["pool_2_vs_pool_1_t1"] = round(runs["pool_2"]["requests_per_s"] / runs["pool_1_t1"]["requests_per_s"], 2)
    return out
