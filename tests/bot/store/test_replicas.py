"""Several writers and several replicas on one store: the audit chain stays linear under concurrent appends
(SQLite and PostgreSQL), and replicas claiming from one PostgreSQL events table process each event exactly
once, a replica that stops renewing losing its events to another after the lease. Measured numbers are
printed (pytest -s)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from bot.store import AuditStore, DecisionRecord
from runtime.base import Decision

WRITERS, APPENDS = 4, 40


def _record(writer: int, i: int) -> DecisionRecord:
    d = Decision(
        decision="ALLOW",
        category="none",
        confidence=0.5,  # type: ignore[arg-type]
        probs={"ALLOW": 0.5},
        rationale="r",
        human_required=False,
        lang="en",
        model_id="m",
        head_id="h",
    )
    return DecisionRecord(float(i), "slack", "C", "t", f"w{writer}", f"w{writer}-{i}", d, 1.0, "x", "0" * 64)


def test_concurrent_writers_keep_the_chain_linear(store_target: str) -> None:
    stores = [AuditStore(store_target, audit_key=b"k" * 32, data_key=None) for _ in range(WRITERS)]
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def write(w: int) -> None:
        try:
            start.wait()
            for i in range(APPENDS):
                stores[w].append_decision(_record(w, i))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    assert not errors, errors[0]
    result = stores[0].verify_chain()
    assert result.ok, result.reason
    assert result.rows == WRITERS * APPENDS
    backend = "postgres" if stores[0].is_postgres else "sqlite"
    print(f"\n{backend}: {WRITERS} writers x {APPENDS} appends, {result.rows / elapsed:.0f} appends/s, chain verifies")
    for s in stores:
        s.close()


def _unclaimed_events(store: AuditStore, n: int) -> None:
    for i in range(n):
        store.record_event("slack", f"e{i}", "message", {"event_id": f"e{i}", "i": i}, float(i))
    store.release_claims()  # as a replica that stored them and stopped cleanly (or a gateway handing out work)


def test_replicas_process_each_event_exactly_once(pg_url: str) -> None:
    replicas = [AuditStore(pg_url, audit_key=None, data_key=None, owner=f"r{n}", lease_s=30) for n in range(3)]
    _unclaimed_events(replicas[0], 150)
    done: Counter[str] = Counter()
    by: Counter[str] = Counter()
    lock = threading.Lock()

    def work(store: AuditStore) -> None:
        while True:
            batch = store.claim_events(limit=5)
            if not batch:
                return
            for _, payload in batch:
                with lock:
                    done[payload["event_id"]] += 1
                    by[store.owner] += 1
                store.finish_event("slack", payload["event_id"], "done", 1.0)

    threads = [threading.Thread(target=work, args=(s,)) for s in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(done) == 150 and set(done.values()) == {1}  # every event, each once
    assert replicas[0].event_counts() == {"done": 150}
    print(f"\nshare of 150 events across 3 replicas: {dict(by)}")
    for s in replicas:
        s.close()


def test_a_dead_replicas_events_are_taken_over_after_the_lease(pg_url: str) -> None:
    lease = 2.0
    dead = AuditStore(pg_url, audit_key=None, data_key=None, owner="dead", lease_s=lease)
    alive = AuditStore(pg_url, audit_key=None, data_key=None, owner="alive", lease_s=lease)
    t_first = time.monotonic()
    for i in range(5):  # the dead replica stored (and so claimed) these, then was killed (no renewal)
        assert dead.record_event("slack", f"d{i}", "message", {"event_id": f"d{i}"}, float(i))
    t_dead = time.monotonic()
    assert alive.record_event("slack", "a0", "message", {"event_id": "a0"}, 9.0)
    early = alive.claim_events()
    if time.monotonic() - t_first < lease:  # (a machine too loaded to get here within the lease proves nothing)
        assert early == []  # still held (the lease runs), and its own are not re-claimed
    taken = [p["event_id"] for _, p in early]
    while not taken and time.monotonic() - t_dead < 10 * lease:
        alive.renew_leases()  # as its replica loop does, every third of the lease
        taken = [p["event_id"] for _, p in alive.claim_events()]
        if not taken:
            time.sleep(0.05)
    takeover_s = time.monotonic() - t_dead
    assert taken == [f"d{i}" for i in range(5)]
    assert (early or takeover_s >= lease - 0.2) and takeover_s < lease + 2.0  # after the lease, soon after it
    assert alive.claim_events() == []  # taken once
    rows = alive.sql("SELECT claimed_by, count(*) FROM events GROUP BY claimed_by")
    assert dict(rows) == {"alive": 6}
    print(f"\ntakeover after the lease ({lease:.1f} s): {takeover_s:.2f} s")
    dead.close()
    alive.close()


@pytest.mark.parametrize("replicas", [3])
def test_a_job_lock_has_one_winner_among_racing_replicas(pg_url: str, replicas: int) -> None:
    stores = [AuditStore(pg_url, audit_key=None, data_key=None, owner=f"r{n}") for n in range(replicas)]
    for _ in range(20):
        won: list[str] = []
        gate = threading.Barrier(replicas)

        def race(s: AuditStore, gate: threading.Barrier, won: list[str]) -> None:
            gate.wait()
            if s.acquire_job_lock("report", s.owner, 100.0, 60.0):
                won.append(s.owner)

        threads = [threading.Thread(target=race, args=(s, gate, won)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1
        stores[0].release_job_lock("report", won[0])
    for s in stores:
        s.close()
