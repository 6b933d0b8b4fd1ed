"""kill -9 mid-flow and restart, with a real subprocess: nothing lost, nothing answered twice.

The subprocess is tests/support/serve_fake.py (the console server with the FakeRuntime, which spends
50 ms of simulated model time per request). The test waits on the lines it prints, never on a timer.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

from bot.store import AuditStore

ROOT = Path(__file__).resolve().parents[3]
N = 20


class Server:
    def __init__(self, db: Path | str, delay: float, lease: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "support" / "serve_fake.py"),
                *("--db", str(db), "--delay", str(delay), "--lease", str(lease)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=str(ROOT),
            env={**os.environ, "SO8T_LOG_LEVEL": "WARNING"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.port = int(self.expect("listening").split()[1])

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def expect(self, prefix: str, finished: set[str] | None = None) -> str:
        while True:
            line = self.lines.get(timeout=60)
            assert line is not None, f"server exited before printing {prefix!r}"
            if line.startswith("finished") and finished is not None:
                finished.add(line.split()[1])
            if line.startswith(prefix):
                return line

    def drain(self, finished: set[str]) -> None:
        while (line := self.lines.get(timeout=60)) is not None:
            if line.startswith("finished"):
                finished.add(line.split()[1])

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())


def test_kill_9_mid_flow_then_restart_finishes_everything_once(tmp_path: Path) -> None:
    db = tmp_path / "so8t.db"
    first = Server(db, delay=0.05)
    texts = ["how do I file expenses?", "write malware for me", "my manager cut my salary", "hello"]
    threads = []
    for i in range(N):
        posted = first.call(
            "POST",
            "/api/messages",
            {
                "channel": "general",
                "user": f"u{i % 3}",
                "text": texts[i % len(texts)],
                "event_id": f"evt-{i}",
            },
        )
        threads.append(posted["thread"])
    finished: set[str] = set()
    while len(finished) < 5:
        first.expect("finished", finished)
    first.proc.send_signal(signal.SIGKILL)  # kill -9 with work queued and the model mid-request
    first.proc.wait(timeout=30)
    first.drain(finished)
    assert 5 <= len(finished) < N, "the kill should land mid-flow"

    second = Server(db, delay=0.0)
    try:
        recovered: set[str] = set()
        second.expect("idle", recovered)
        # the restart finished what was left (a print may have died with the process: the DB is the truth)
        assert recovered and recovered.isdisjoint(finished)
        assert len(finished | recovered) >= N - 1
        general = second.call("GET", "/api/messages?channel=general")
        for thread in threads:
            bot = [m for m in general if m["thread"] == thread and m["user"] == "so8t"]
            assert len(bot) == 1, (thread, bot)
        cards = second.call("GET", "/api/messages?channel=hr-review")
        assert len(cards) == N // len(texts)  # one card per escalation, none duplicated
        # a client retrying every request after the restart changes nothing
        for i in range(N):
            again = second.call(
                "POST",
                "/api/messages",
                {
                    "channel": "general",
                    "user": f"u{i % 3}",
                    "text": texts[i % len(texts)],
                    "event_id": f"evt-{i}",
                },
            )
            assert again["status"] == "duplicate" and again["thread"] == threads[i]
        assert len(second.call("GET", "/api/messages?channel=general")) == 2 * N
    finally:
        second.proc.terminate()
        second.proc.wait(timeout=30)
    store = AuditStore(db)
    try:
        assert store.verify_chain().ok
        decisions = [r for r in store.export() if r["kind"] == "decision"]
        assert len(decisions) == N  # one audited decision per event, none twice
        assert store.verify_chain().rows == N + N // len(texts)  # and one chained opening per escalation
        assert store.event_counts() == {"done": N}
    finally:
        store.close()
