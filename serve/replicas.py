"""What a `so8t serve` replica does besides its own events when the store is PostgreSQL: keep the leases of
the events it holds, take over events whose replica died (their lease ran out), and run the platforms that
must run once (Discord's gateway) only while it leads them.

Every replica receives events (Slack over HTTP or Socket Mode hands each event to one of them; a retry to
another is deduplicated by the shared events table) and claims them when it stores them. Every
`lease_s / 3` a replica renews its claims and claims what nobody holds (`Bot.recover`: `FOR UPDATE SKIP
LOCKED`, so no event is taken twice). Discord allows one gateway session per bot token: the replica that
holds the store's `leader:discord` row runs it (renewed every tick; after a leader dies, another takes it
within `lease_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.errors import StoreError
from bot.store import AuditStore

log = logging.getLogger("so8t.replicas")
LED = ("discord",)  # platforms that run in one replica only


class Replicas:
    def __init__(
        self,
        store: AuditStore,
        recover: Callable[[], Awaitable[int]],
        led: Sequence[Any] = (),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`recover` claims and processes unheld events (Bot.recover); `led` are the platform adapters that
        run only in the leading replica."""
        self.store = store
        self.recover = recover
        self.led = list(led)
        self.sleep = sleep
        self.leading: set[str] = set()
        self.taken_over = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def interval_s(self) -> float:
        return max(0.05, self.store.lease_s / 3)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def tick(self) -> None:
        """One round: renew, take over, lead."""
        try:
            await asyncio.to_thread(self.store.renew_leases)
            self.taken_over += await self.recover()
        except StoreError as exc:
            log.error("replica round failed: %s", exc)
        except Exception as exc:  # noqa: BLE001 - e.g. a payload the recovery cannot read: lead all the same
            log.error("replica round failed (%s)", type(exc).__name__)
        for platform in self.led:
            name = str(platform.platform)
            try:
                leads = await asyncio.to_thread(self.store.lead, name, self.store.lease_s)
            except StoreError as exc:
                log.error("leader election for %s failed: %s", name, exc)
                leads = False
            try:
                if leads and name not in self.leading:
                    log.info("this replica (%s) leads %s: starting it", self.store.owner, name)
                    await platform.start()
                    self.leading.add(name)
                elif not leads and name in self.leading:
                    log.warning("this replica lost the lead of %s: stopping it", name)
                    self.leading.discard(name)
                    await platform.stop()
            except Exception as exc:  # noqa: BLE001 - the next round tries again; the other platforms go on
                log.error("%s %s failed (%s)", "starting" if leads else "stopping", name, type(exc).__name__)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # noqa: BLE001 - a failed round must not end the renewals
                # one line, the exception's type only: its message may carry a payload or a secret
                log.error("replica round failed (%s); retrying in %.1f s", type(exc).__name__, self.interval_s)
            await self.sleep(self.interval_s)

    async def stop(self) -> None:
        """Stop renewing and stop the led platforms; the claims stay held until `release` (after the bot has
        stopped answering them)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for platform in self.led:
            name = str(platform.platform)
            if name in self.leading:
                self.leading.discard(name)
                await platform.stop()
                with contextlib.suppress(StoreError):
                    await asyncio.to_thread(self.store.resign, name)

    async def release(self) -> None:
        """Hand the unfinished events this replica holds to the others: only once it no longer works on them."""
        with contextlib.suppress(StoreError):
            released = await asyncio.to_thread(self.store.release_claims)
            if released:
                log.info("released %d unfinished event(s) to the other replicas", released)
