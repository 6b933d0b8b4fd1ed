"""Policy: channel lists, token-bucket rate limit, bounded context, the fair bounded queue."""

from __future__ import annotations

import asyncio

import pytest

from bot.policy import FairQueue, Policy, QueueFull, RateLimiter, estimate_tokens
from bot.settings import PolicySettings, QueueSettings
from runtime.base import Turn


def test_channel_allow_and_deny() -> None:
    p = Policy(PolicySettings(allow_channels=("general", "it"), deny_channels=("it",)), lambda: 0.0)
    assert p.check("console", "general", "a").outcome == "ok"
    assert p.check("console", "it", "a").outcome == "ignored"
    assert p.check("console", "random", "a").outcome == "ignored"
    assert Policy(PolicySettings(), lambda: 0.0).channel_allowed("anything")


def test_rate_limiter_refills() -> None:
    now = [0.0]
    r = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert r.take("c", "a") == 0 and r.take("c", "a") == 0
    assert r.take("c", "a") == pytest.approx(1.0)
    assert r.take("c", "b") == 0  # per user
    now[0] += 1.0
    assert r.take("c", "a") == 0
    assert RateLimiter(0, 1, lambda: 0.0).take("c", "a") == 0  # off


def test_bound_context_keeps_the_latest_turns_within_budget() -> None:
    turns = [Turn("user", f"message {i} " + "x" * 30) for i in range(10)]
    p = Policy(PolicySettings(context_turns=4, context_tokens=40), lambda: 0.0)
    out = p.bound_context(turns)
    assert out == turns[-len(out) :] and 1 <= len(out) <= 4
    assert sum(estimate_tokens(t.text) for t in out) <= 40
    huge = [Turn("user", "y" * 10_000)]
    clipped = Policy(PolicySettings(context_turns=4, context_tokens=100), lambda: 0.0).bound_context(huge)
    assert len(clipped) == 1 and len(clipped[0].text) == 300
    assert Policy(PolicySettings(context_turns=0), lambda: 0.0).bound_context(turns) == []


async def test_fair_queue_round_robin_and_bounds() -> None:
    q: FairQueue[str] = FairQueue(QueueSettings(max_total=6, max_per_user=3))
    for i in range(3):
        await q.put("heavy", f"h{i}")
    with pytest.raises(QueueFull) as err:
        await q.put("heavy", "h3")
    assert err.value.reason == "user"
    assert await q.put("a", "a0") == 3
    await q.put("b", "b0")
    await q.put("a", "a1")
    with pytest.raises(QueueFull) as err:
        await q.put("c", "c0")
    assert err.value.reason == "total"
    await q.put("c", "c0", force=True)  # recovered events are never dropped
    got = [await q.get() for _ in range(7)]
    assert got == ["h0", "a0", "b0", "c0", "h1", "a1", "h2"]
    waiter = asyncio.ensure_future(q.get())
    await q.put("z", "z0")
    assert await waiter == "z0"
