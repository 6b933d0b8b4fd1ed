"""Access policy before the model runs: channel allow/deny, per-user rate limit, bounded context,
and the fair per-user queue in front of the single model worker."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from bot.settings import PolicySettings, QueueSettings
from runtime.base import Turn

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    """What the policy says about one incoming message."""

    outcome: Literal["ok", "ignored", "rate_limited"]
    retry_after_s: float = 0.0


class RateLimiter:
    """A token bucket per (platform, user): `per_minute` refill, `burst` capacity; 0 per_minute = off."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, platform: str, user: str) -> float:
        """0.0 when allowed now; otherwise seconds until the next request would be allowed."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, last = self._buckets.get((platform, user), (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[(platform, user)] = (tokens - 1.0, now)
            return 0.0
        self._buckets[(platform, user)] = (tokens, now)
        return (1.0 - tokens) / self.rate


class Policy:
    def __init__(self, settings: PolicySettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_per_minute, settings.rate_burst, clock)

    def channel_allowed(self, channel: str) -> bool:
        s = self.settings
        if channel in s.deny_channels:
            return False
        return not s.allow_channels or channel in s.allow_channels

    def check(self, platform: str, channel: str, user: str) -> Verdict:
        if not self.channel_allowed(channel):
            return Verdict("ignored")
        wait = self.limiter.take(platform, user)
        if wait > 0:
            return Verdict("rate_limited", wait)
        return Verdict("ok")

    def bound_context(self, turns: Sequence[Turn]) -> list[Turn]:
        """The most recent turns that fit `context_turns` and the `context_tokens` budget (estimated)."""
        out: list[Turn] = []
        budget = self.settings.context_tokens
        for turn in reversed(
            list(turns)[-self.settings.context_turns :] if self.settings.context_turns else []
        ):
            cost = estimate_tokens(turn.text)
            if cost > budget:
                if not out and budget > 8:  # keep the tail of a single long last turn
                    out.append(Turn(turn.role, turn.text[-budget * 3 :]))
                break
            budget -= cost
            out.append(turn)
        return list(reversed(out))


def estimate_tokens(text: str) -> int:
    """A cheap upper-ish estimate: ~4 bytes of UTF-8 per token (Japanese is ~1 char per token)."""
    return len(text.encode("utf-8")) // 3 + 1


class QueueFull(Exception):
    def __init__(self, reason: Literal["user", "total"]) -> None:
        super().__init__(reason)
        self.reason = reason


class FairQueue(Generic[T]):
    """Round-robin across users, FIFO within a user, bounded in total and per user.

    One heavy user cannot starve others: the next item always comes from the user after the last
    one served. `put` returns how many items are ahead of the new one (for the "busy" notice).
    """

    def __init__(self, settings: QueueSettings) -> None:
        self.settings = settings
        self._queues: OrderedDict[str, deque[T]] = OrderedDict()
        self._size = 0
        self._cond = asyncio.Condition()

    def __len__(self) -> int:
        return self._size

    def users(self) -> int:
        return len(self._queues)

    async def put(self, user: str, item: T, force: bool = False) -> int:
        """Enqueue; raises QueueFull unless `force` (recovered events are never dropped)."""
        async with self._cond:
            q = self._queues.get(user)
            if not force:
                if self._size >= self.settings.max_total:
                    raise QueueFull("total")
                if q is not None and len(q) >= self.settings.max_per_user:
                    raise QueueFull("user")
            ahead = self._size
            if q is None:
                q = self._queues[user] = deque()
            q.append(item)
            self._size += 1
            self._cond.notify()
            return ahead

    async def get(self) -> T:
        async with self._cond:
            await self._cond.wait_for(lambda: self._size > 0)
            user, q = next(iter(self._queues.items()))
            item = q.popleft()
            self._size -= 1
            del self._queues[user]
            if q:
                self._queues[user] = q  # to the back of the round
            return item
