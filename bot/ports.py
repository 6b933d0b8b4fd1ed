"""The core's port to chat platforms: what the core needs from one, and nothing platform-specific.

The core owns this protocol; the chat adapters (`adapters/`) implement it and the serving package
(`serve/`) builds them and hands them to the core, so `bot` never imports `adapters`.

Every post carries a `key`: posting the same key twice returns the first message's ref instead of
posting again, which is what makes replies exactly-once when an event is finished after a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.events import Button
from runtime.base import Turn


class Adapter(Protocol):
    @property
    def platform(self) -> str: ...

    @property
    def connected(self) -> bool: ...

    async def reply(
        self,
        channel: str,
        thread: str,
        text: str,
        key: str,
        buttons: Sequence[Button] = (),
        kind: str = "answer",
    ) -> str:
        """Post in a thread; returns the message ref (the existing one when `key` was posted before)."""
        ...

    async def post(self, channel: str, text: str, key: str, buttons: Sequence[Button] = (), kind: str = "card") -> str:
        """Post a new top-level message (e.g. a reviewer card); returns its ref."""
        ...

    async def update(self, channel: str, ref: str, text: str, buttons: Sequence[Button] | None = None) -> None:
        """Replace a message's text (streaming, resolved cards); buttons None keeps them, () removes them."""
        ...

    async def thread_context(self, channel: str, thread: str, before: str, limit: int) -> list[Turn]:
        """The last `limit` turns of the thread before message `before` (the bot's own turns as assistant)."""
        ...
