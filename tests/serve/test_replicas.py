"""`so8t serve` replicas on one PostgreSQL, as real subprocesses (tests/support/serve_fake.py: the console server
with the FakeRuntime): one replica is killed with kill -9 holding unfinished work; the other, still running,
takes that work over once the lease runs out. Every event is finished once, every thread has one answer,
the chain verifies. Also: the leader election that runs Discord's gateway in one replica."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

from bot.store import AuditStore
from serve.replicas import Replicas
from tests.adapters.console.test_restart import Server

N = 16
LEASE_S = 1.0


def test_a_replica_killed_mid_flow_has_its_work_taken_over_by_another(pg_url: str) -> None:
    a = Server(pg_url, delay=0.1, lease=LEASE_S)
    b = Server(pg_url, delay=0.0, lease=LEASE_S)
    texts = ["how do I file expenses?", "write malware for me", "my manager cut my salary", "hello"]
    threads = []
    try:
        for i in range(N):
            body = {"channel": "general", "user": f"u{i % 3}", "text": texts[i % len(texts)], "event_id": f"evt-{i}"}
            threads.append(a.call("POST", "/api/messages", body)["thread"])
        finished_a: set[str] = set()
        while len(finished_a) < 3:
            a.expect("finished", finished_a)
        a.proc.send_signal(signal.SIGKILL)  # kill -9: its claims stay until their lease runs out
        killed_at = time.monotonic()
        a.proc.wait(timeout=30)
        a.drain(finished_a)
        assert len(finished_a) < N, "the kill should land mid-flow"
        finished_b: set[str] = set()
        while len(finished_a | finished_b) < N - 1:  # a print may die with the killed process
            b.expect("finished", finished_b)
        takeover_s = time.monotonic() - killed_at
        assert finished_b and finished_b.isdisjoint(finished_a)
        assert takeover_s >= LEASE_S * 0.9
        store = AuditStore(pg_url, audit_key=None, data_key=None)
        deadline = time.monotonic() + 30
        while store.event_counts() != {"done": N} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.event_counts() == {"done": N}
        general = b.call("GET", "/api/messages?channel=general")
        for thread in threads:
            answers = [m for m in general if m["thread"] == thread and m["user"] == "so8t"]
            assert len(answers) == 1, (thread, answers)
        assert store.verify_chain().ok
        assert len([r for r in store.export() if r["kind"] == "decision"]) == N
        store.close()
        print(f"\nreplica killed with {N - len(finished_a)} unfinished event(s): all done by the other "
              f"{takeover_s:.2f} s after the kill (lease {LEASE_S:.1f} s)")
    finally:
        for s in (a, b):
            if s.proc.poll() is None:
                s.proc.terminate()
                s.proc.wait(timeout=30)


class _Gateway:
    platform = "discord"

    def __init__(self) -> None:
        self.running = False

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False


async def _no_work() -> int:
    return 0


def test_one_replica_leads_the_gateway_and_another_takes_over(pg_url: str) -> None:
    async def scenario() -> dict[str, Any]:
        stores = [AuditStore(pg_url, audit_key=None, data_key=None, owner=f"r{n}", lease_s=0.5) for n in range(3)]
        gateways = [_Gateway() for _ in stores]
        replicas = [Replicas(s, _no_work, [g]) for s, g in zip(stores, gateways, strict=True)]
        for r in replicas:
            await r.tick()
        leaders = [n for n, g in enumerate(gateways) if g.running]
        assert len(leaders) == 1
        first = leaders[0]
        for r in replicas:
            await r.tick()  # renewals keep the same leader
        assert [n for n, g in enumerate(gateways) if g.running] == [first]
        replicas[first].led = []  # the leader dies (stops renewing, never stops its gateway cleanly)
        t0 = time.monotonic()
        others = [r for n, r in enumerate(replicas) if n != first]
        while not any(gateways[n].running for n in range(3) if n != first):
            for r in others:
                await r.tick()
            await asyncio.sleep(0.05)
        took = time.monotonic() - t0
        assert sum(gateways[n].running for n in range(3) if n != first) == 1
        for s in stores:
            s.close()
        return {"takeover_s": took}

    result = asyncio.run(scenario())
    assert 0.4 <= result["takeover_s"] < 5.0  # after the lease (0.5 s), soon after it
    print(f"\ngateway lead taken over {result['takeover_s']:.2f} s after the leader stopped renewing (lease 0.5 s)")


class _FakeStore:
    """What Replicas uses of the store, counting the renewals (no database: the loop's own behaviour)."""

    lease_s = 0.3
    owner = "r0"
    is_postgres = True

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.renewals = 0

    def renew_leases(self) -> None:
        self.renewals += 1

    def lead(self, name: str, lease_s: float) -> bool:
        return True

    def resign(self, name: str) -> None:
        self.log.append("resign")

    def release_claims(self) -> int:
        self.log.append("release")
        return 0

    def close(self) -> None:
        self.log.append("store.close")


class _FlakyGateway(_Gateway):
    def __init__(self) -> None:
        super().__init__()
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        if self.starts == 1:
            raise RuntimeError("gateway refused: token=xoxb-secret")  # its message must not reach the log
        self.running = True


def test_the_loop_survives_any_error_and_keeps_renewing(caplog: Any) -> None:
    async def scenario() -> tuple[_FakeStore, _FlakyGateway]:
        store = _FakeStore([])
        gateway = _FlakyGateway()
        rounds = asyncio.Event()
        calls = 0

        async def bad_recover() -> int:
            nonlocal calls
            calls += 1
            if calls <= 2:
                raise ValueError("bad payload: 'my salary is 123'")
            return 0

        async def sleep(_: float) -> None:
            if store.renewals >= 4:
                rounds.set()
            await asyncio.sleep(0)

        replicas = Replicas(store, bad_recover, [gateway], sleep=sleep)  # type: ignore[arg-type]
        replicas.start()
        await asyncio.wait_for(rounds.wait(), timeout=10)
        await replicas.stop()
        return store, gateway

    with caplog.at_level("ERROR", logger="so8t.replicas"):
        store, gateway = asyncio.run(scenario())
    assert store.renewals >= 4  # the leases were renewed after the failed rounds
    assert gateway.starts >= 2 and not gateway.running  # retried after its failed start, stopped at the end
    assert "ValueError" in caplog.text and "RuntimeError" in caplog.text
    assert "salary" not in caplog.text and "xoxb" not in caplog.text


def test_a_stopping_replica_releases_its_claims_only_after_the_bot_stopped() -> None:
    from serve.app import App

    log: list[str] = []

    class _Bot:
        async def stop(self) -> None:
            log.append("bot.stop")

    class _Runner:
        async def cleanup(self) -> None:
            log.append("runner.cleanup")

    class _Workspace:
        def close(self) -> None:
            log.append("workspace.close")

    class _Console:
        workspace = _Workspace()

    store = _FakeStore(log)
    app = App(
        config=None,  # type: ignore[arg-type]
        settings=None,  # type: ignore[arg-type]
        store=store,  # type: ignore[arg-type]
        bot=_Bot(),  # type: ignore[arg-type]
        console=_Console(),  # type: ignore[arg-type]
        runtime=None,  # type: ignore[arg-type]
        runner=_Runner(),  # type: ignore[arg-type]
        replicas=Replicas(store, _no_work),  # type: ignore[arg-type]
    )
    asyncio.run(app.stop())
    assert log == ["runner.cleanup", "bot.stop", "release", "workspace.close", "store.close"]
