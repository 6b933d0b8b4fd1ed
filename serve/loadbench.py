"""Load check over the console API: n messages as fast as possible, every one answered exactly once.

`run_load(config, n)` starts the console server on port 0 with a fresh database, posts n messages
concurrently, waits (on the bot, not a timer) until every event is finished, then checks that each
thread got exactly one bot reply, no event is pending, and the audit chain verifies. It returns the
API response times (p50/p99) and messages/s, next to the raw model throughput measured directly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Config
from bot.settings import QueueSettings, load_settings
from runtime.base import Runtime
from runtime.stats import percentile
from serve.app import build_app

PROMPTS: tuple[str, ...] = (
    "How do I reset my VPN password?",
    "Summarize the steps to file an expense report.",
    "What is the agenda template for a weekly team meeting?",
    "会議室の予約方法を教えてください。",
    "How can I write a polite reminder e-mail to a colleague?",
    "週報の書き方のコツは？",
    "Can you explain what a pull request review is?",
    "新人向けのオンボーディング資料の構成案を教えて。",
)


def raw_throughput(runtime: Runtime, n: int) -> float:
    """Messages/s of decide + full answer called directly, one after another (no bot, no HTTP)."""
    t0 = time.perf_counter()
    for i in range(n):
        text = PROMPTS[i % len(PROMPTS)]
        d = runtime.decide([], text)
        if d.decision == "ALLOW":
            for _ in runtime.answer([], text):
                pass
    return n / max(time.perf_counter() - t0, 1e-9)


async def run_load_async(
    config: Config,
    n: int = 500,
    runtime: Runtime | None = None,
    users: int = 25,
    db_dir: str | None = None,
    raw_samples: int = 20,
) -> dict[str, Any]:
    if runtime is None:
        from runtime.loader import load_runtime

        runtime = load_runtime(config.model)
    with tempfile.TemporaryDirectory(dir=db_dir) as tmp:
        db = str(Path(tmp) / "load.db")
        settings = load_settings(config, db)
        settings = dataclasses.replace(
            settings,
            policy=dataclasses.replace(
                settings.policy,
                rate_per_minute=0.0,
                queue=QueueSettings(max_total=n + 10, max_per_user=n + 10, busy_notice_after=0),
            ),
        )
        app = build_app(config, runtime, db_path=db, settings=settings)
        port = await app.start("127.0.0.1", 0)
        base = f"http://127.0.0.1:{port}"
        latencies: list[float] = []
        errors: list[str] = []
        try:
            conn = aiohttp.TCPConnector(limit=64)
            async with aiohttp.ClientSession(connector=conn) as session:

                async def send(i: int) -> str | None:
                    body = {
                        "channel": "general",
                        "user": f"user{i % users}",
                        "text": PROMPTS[i % len(PROMPTS)],
                        "event_id": f"load-{i}",
                    }
                    t0 = time.perf_counter()
                    async with session.post(f"{base}/api/messages", json=body) as resp:
                        data = await resp.json()
                    latencies.append((time.perf_counter() - t0) * 1000.0)
                    if resp.status != 200:
                        errors.append(str(data.get("error")))
                        return None
                    return str(data["thread"])

                t_start = time.perf_counter()
                threads = await asyncio.gather(*(send(i) for i in range(n)))
                await app.bot.wait_idle()
                wall = time.perf_counter() - t_start
                async with session.get(f"{base}/api/messages", params={"channel": "general"}) as resp:
                    messages = await resp.json()
            replies: dict[str, int] = {}
            for m in messages:
                if m["user"] == "so8t":
                    replies[m["thread"]] = replies.get(m["thread"], 0) + 1
            sent = [t for t in threads if t is not None]
            answered_once = sum(1 for t in sent if replies.get(t, 0) == 1)
            duplicated = sum(1 for t in sent if replies.get(t, 0) > 1)
            lost = sum(1 for t in sent if replies.get(t, 0) == 0)
            chain = app.store.verify_chain()
            states = app.store.event_counts()
        finally:
            await app.stop()
    raw = raw_throughput(runtime, min(raw_samples, n)) if raw_samples else 0.0
    mps = len(sent) / wall if wall > 0 else 0.0
    return {
        "n": n,
        "accepted": len(sent),
        "http_errors": len(errors),
        "answered_once": answered_once,
        "duplicated": duplicated,
        "lost": lost,
        "pending": states.get("received", 0),
        "audit_rows": chain.rows,
        "chain_ok": chain.ok,
        "exactly_once": answered_once == n
        and duplicated == 0
        and lost == 0
        and states.get("received", 0) == 0,
        "api_p50_ms": _rounded(percentile(latencies, 50)),
        "api_p99_ms": _rounded(percentile(latencies, 99)),
        "api_max_ms": round(max(latencies), 2) if latencies else None,
        "wall_s": round(wall, 3),
        "messages_per_s": round(mps, 2),
        "raw_model_messages_per_s": round(raw, 2),
        "ratio": round(mps / raw, 3) if raw else None,
    }


def run_load(config: Config, n: int = 500, runtime: Runtime | None = None) -> dict[str, Any]:
    """Synchronous entry for `so8t bench --load`."""
    return asyncio.run(run_load_async(config, n, runtime))


def _rounded(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 2)
