"""The single model worker: one lock per model, calls on a worker thread, the event loop never blocks.

`decide` and `answer` for one request happen under one hold of the lock, because the runtime answers
from the KV cache that its `decide` left (and is not thread-safe).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from runtime.base import Decision, Runtime, Turn

_END = object()


class ModelSession:
    """Valid only inside `ModelWorker.hold()`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def decide(self, context: Sequence[Turn], request: str) -> Decision:
        return await asyncio.to_thread(self.runtime.decide, list(context), request)

    async def answer(
        self, context: Sequence[Turn], request: str, max_tokens: int | None = None
    ) -> AsyncIterator[str]:
        """Stream the answer's pieces from the worker thread; re-raises the runtime's error."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        ctx = list(context)

        def run() -> None:
            try:
                for piece in self.runtime.answer(ctx, request, max_tokens):
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
            except BaseException as exc:  # noqa: BLE001 - handed to the loop side
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            else:
                loop.call_soon_threadsafe(queue.put_nowait, _END)

        job = asyncio.ensure_future(asyncio.to_thread(run))
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield str(item)
        finally:
            await job  # the thread is done with the runtime before the lock is released


class ModelWorker:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lock = asyncio.Lock()
        self.busy = False

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[ModelSession]:
        async with self._lock:
            self.busy = True
            try:
                yield ModelSession(self.runtime)
            finally:
                self.busy = False
