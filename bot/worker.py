"""The single model worker: one lock per model, calls on a worker thread, the event loop never blocks.

`decide` and `answer` for one request happen under one hold of the lock, because the runtime answers
from the KV cache that its `decide` left (and is not thread-safe).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager

from runtime.base import Decision, Runtime, Turn
from runtime.response import ResponseVerdict

_END = object()
AHEAD = 2  # pieces the model may run ahead of the consumer: closing the stream stops it within a few tokens


class ModelSession:
    """Valid only inside `ModelWorker.hold()`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # why the last answer ended: the runtime's "stop" | "length" (when it says), "stopped" when the
        # caller closed the stream early (the answer guard found a loop), None when unknown
        self.finish_reason: str | None = None
        # the response head's last reading of the last answer (runtime/response.py), None without one
        self.response: ResponseVerdict | None = None

    async def decide(self, context: Sequence[Turn], request: str) -> Decision:
        return await asyncio.to_thread(self.runtime.decide, list(context), request)

    async def answer(
        self, context: Sequence[Turn], request: str, max_tokens: int | None = None, documents: str | None = None
    ) -> AsyncGenerator[str, None]:
        """Stream the answer's pieces from the worker thread; re-raises the runtime's error. Closing the
        stream early (`contextlib.aclosing`) stops generation after the piece being sampled."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        ctx = list(context)
        stop = threading.Event()
        credit = threading.Semaphore(AHEAD)
        self.finish_reason = None
        self.response = None

        def run() -> None:
            pieces: Iterator[str] | None = None
            stopped = False
            try:
                pieces = (
                    self.runtime.answer(ctx, request, max_tokens)
                    if documents is None
                    else self.runtime.answer(ctx, request, max_tokens, documents)
                )
                for piece in pieces:
                    credit.acquire()
                    if stop.is_set():
                        stopped = True
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
            except BaseException as exc:  # noqa: BLE001 - handed to the loop side
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            else:
                loop.call_soon_threadsafe(queue.put_nowait, _END)
            finally:
                close = getattr(pieces, "close", None)
                if callable(close):
                    close()  # a generator runtime leaves its sampling loop (and its lock) now
            reason = getattr(self.runtime, "last_finish_reason", None)
            self.finish_reason = "stopped" if stopped else (None if reason is None else str(reason))
            self.response = getattr(self.runtime, "last_response", None)

        job = asyncio.ensure_future(asyncio.to_thread(run))
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                credit.release()
                yield str(item)
        finally:
            stop.set()
            credit.release()  # wakes the thread if it waits for credit: it sees `stop` and ends
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
