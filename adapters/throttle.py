"""Message updates at most once per interval per message: the latest text wins, the last is never lost.

Streaming answers update a message many times a second; chat platforms rate-limit edits. An update
that comes too soon is parked and sent by one deferred flush; an update in time is sent at once
(so its errors reach the caller)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("so8t.adapters")

Send = Callable[[], Awaitable[None]]


@dataclass
class _State:
    last: float = float("-inf")
    pending: Send | None = None
    task: asyncio.Task[None] | None = None


@dataclass
class UpdateThrottle:
    interval_s: float
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[Any]]
    _states: dict[str, _State] = field(default_factory=dict)

    def touched(self, ref: str) -> None:
        """A message was just posted: its first update waits a full interval."""
        self._states.setdefault(ref, _State()).last = self.clock()

    async def update(self, ref: str, send: Send) -> None:
        st = self._states.setdefault(ref, _State())
        if st.task is not None and not st.task.done():
            st.pending = send  # the parked flush will send the newest state
            return
        wait = st.last + self.interval_s - self.clock()
        if wait > 0:
            st.pending = send
            st.task = asyncio.create_task(self._flush_later(ref, st, wait))
            return
        st.last = self.clock()
        await send()

    async def _flush_later(self, ref: str, st: _State, wait: float) -> None:
        await self.sleep(wait)
        send, st.pending = st.pending, None
        st.last = self.clock()
        if send is not None:
            try:
                await send()
            except Exception as exc:  # noqa: BLE001 - the next update retries the whole text
                log.warning("deferred update of message %s failed (%s)", ref, type(exc).__name__)

    async def drain(self) -> None:
        """Until every parked update is sent (tests, shutdown)."""
        while True:
            tasks = [s.task for s in self._states.values() if s.task is not None and not s.task.done()]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)
