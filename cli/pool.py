"""Model-pool commands: `so8t model-server` (a llama-server for `model.servers`) and `so8t bench-pool`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from cli.common import CliState, fail


def register(group: click.Group) -> None:
    """Add the model-pool commands to `group`."""

    @group.command(name="model-server")
    @click.option("--host", default="127.0.0.1", show_default=True, help="bind address (0.0.0.0 in a container)")
    @click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
    @click.option("--threads", type=int, default=None, help="CPU threads (default model.threads, else all cores)")
    @click.option("--parallel", type=int, default=1, show_default=True, help="requests evaluated at once (slots)")
    @click.option(
        "--answers", is_flag=True, help="serve the answer model for model.answer_server (/v1/chat/completions)"
    )
    @click.option("--print", "print_only", is_flag=True, help="print the llama-server command line, run nothing")
    @click.pass_obj
    def model_server(
        state: CliState, host: str, port: int, threads: int | None, parallel: int, answers: bool, print_only: bool
    ) -> None:
        """Run llama.cpp's llama-server on the configured model (the same GGUF and LoRA adapter as in-process,
        --embeddings --pooling last) for the bot's `model.servers`; the bot applies the heads. With
        --answers: the answer model, for `model.answer_server`."""
        import shlex

        from runtime.errors import RuntimeLoadError
        from runtime.remote import llama_server_binary, server_args

        try:
            args = server_args(
                state.config.model, host=host, port=port, threads=threads, parallel=parallel, answers=answers
            )
            binary = "llama-server" if print_only else str(llama_server_binary())
        except (FileNotFoundError, RuntimeLoadError) as exc:
            fail(str(exc))
            return
        if print_only:
            click.echo(shlex.join([binary, *args]))
            return
        sys.stdout.flush()
        os.execv(binary, [binary, *args])  # the server is this process: signals and exit codes are its own

    @group.command(name="bench-pool")
    @click.option("--requests", "n_requests", type=int, default=48, show_default=True, help="requests per run")
    @click.option("--concurrency", type=int, default=4, show_default=True, help="clients at once for the pools")
    @click.option("--json", "json_out", default=None, help="write the results JSON here")
    @click.option(
        "--bot",
        "bot_messages",
        type=int,
        default=0,
        help="also N messages through the whole bot (console API, answers of 16 tokens), in-process and over "
        "2 servers with one killed mid-burst",
    )
    @click.pass_obj
    def bench_pool(
        state: CliState, n_requests: int, concurrency: int, json_out: str | None, bot_messages: int
    ) -> None:
        """Verdicts/s in-process vs over 1 and 2 local llama-servers (loopback), and with one killed mid-burst."""
        from runtime.pool_bench import run_pool_bench
        from runtime.remote import llama_server_binary

        try:
            llama_server_binary()
        except FileNotFoundError as exc:
            fail(str(exc))
        log_dir = Path("var/bench-pool")
        log_dir.mkdir(parents=True, exist_ok=True)
        out = run_pool_bench(
            state.config.model,
            requests=n_requests,
            concurrency=concurrency,
            log_dir=log_dir,
            progress=lambda name: click.echo(f"running {name} ...", err=True),
        )
        if bot_messages:
            click.echo("running the bot bursts ...", err=True)
            out["bot"] = _bot_bursts(state.config, bot_messages, log_dir)
        click.echo(_table(out))
        if json_out:
            Path(json_out).parent.mkdir(parents=True, exist_ok=True)
            Path(json_out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


def _bot_bursts(config: Any, n: int, log_dir: Path) -> dict[str, Any]:
    """N messages through the bot (serve/loadbench.py: console API, every message answered exactly once,
    the audit chain verified), first in-process, then over two local llama-servers, one of which is killed
    in the middle of a request once a quarter of the verdicts are made. Answers are cut to 16 tokens (the
    model's answers are not what is measured); `fail_closed` counts verdicts that failed closed."""
    import dataclasses
    import threading

    from runtime.loader import load_runtime
    from runtime.remote import LocalServer
    from serve.loadbench import run_load_async

    short = dataclasses.replace(config, model=dataclasses.replace(config.model, max_answer_tokens=16))

    def counted(runtime: Any) -> tuple[Any, dict[str, int]]:
        counts = {"decisions": 0, "fail_closed": 0}
        decide = runtime.decide
        lock = threading.Lock()

        def wrapped(context: Any, request: str) -> Any:
            d = decide(context, request)
            with lock:
                counts["decisions"] += 1
                counts["fail_closed"] += d.reason == "runtime_error"
            return d

        runtime.decide = wrapped
        return runtime, counts

    out: dict[str, Any] = {}
    runtime, counts = counted(load_runtime(short.model))
    out["in_process"] = {**asyncio.run(run_load_async(short, n, runtime, raw_samples=0)), **counts}
    del runtime
    servers = [LocalServer(short.model, threads=1, log_path=log_dir / f"llama-server-bot-{i}.log") for i in range(2)]
    try:
        for server in servers:
            server.start()
        pooled = dataclasses.replace(short.model, servers=tuple(s.url for s in servers))

        runtime, counts = counted(load_runtime(pooled))
        pool = runtime.safety.pool
        post = pool._post
        victim = servers[-1]

        def post_and_kill(server: Any, path: str, data: bytes) -> Any:
            """Once a quarter of the verdicts are made, the victim is killed 50 ms into its next request."""
            if server.url == victim.url and counts["decisions"] >= max(1, n // 4) and victim.proc is not None:
                threading.Timer(0.05, victim.kill).start()
            return post(server, path, data)

        pool._post = post_and_kill
        result = asyncio.run(run_load_async(dataclasses.replace(short, model=pooled), n, runtime, raw_samples=0))
        out["pool_2_killed"] = {
            **result,
            **counts,
            "per_server_requests": [s.requests for s in pool.servers],
            "server_failures": [s.failures for s in pool.servers],
        }
    finally:
        for server in servers:
            server.stop()
    return out


def _table(out: dict[str, Any]) -> str:
    cols = [
        ("requests_per_s", "req/s"),
        ("latency_ms_p50", "p50 ms"),
        ("latency_ms_p95", "p95 ms"),
        ("failed", "failed"),
        ("http_ms_per_request", "http ms/req"),
        ("model_ms_per_request", "model ms/req"),
        ("server_cpu_ms_per_request", "server cpu ms/req"),
        ("client_cpu_ms_per_request", "client cpu ms/req"),
        ("cpu_busy", "cpu busy"),
    ]
    lines = [
        f"{out['requests']} requests per run on {out['cores']} cores; pools with {out['concurrency']} clients at once",
        "| run | " + " | ".join(c[1] for c in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for name, run in out["runs"].items():
        lines.append(f"| {name} | " + " | ".join(str(run.get(c[0], "")) for c in cols) + " |")
    lines.append(
        f"pool_2 / pool_1: {out['pool_2_vs_pool_1']}x, pool_2 / pool_1_t1: {out['pool_2_vs_pool_1_t1']}x; "
        f"vs in-process: {out['speedup_vs_in_process']}"
    )
    for name, run in (out.get("bot") or {}).items():
        lines.append(
            f"bot {name}: {run['messages_per_s']} messages/s, p50 {run['api_p50_ms']} ms, exactly once "
            f"{run['exactly_once']}, chain ok {run['chain_ok']}, fail-closed verdicts {run['fail_closed']}"
            + (f", per server {run['per_server_requests']}" if "per_server_requests" in run else "")
        )
    return "\n".join(lines)
