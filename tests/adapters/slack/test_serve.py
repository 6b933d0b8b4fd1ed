"""`so8t serve` with Slack, as a real subprocess (issue 20): tests/adapters/slack/serve_slack.py runs the
real serve loop (cli.ops.run_server) with the FakeRuntime; Slack's servers are the loopback fakes
in this process. The test waits on lines and recorded calls, never on a timer.

- a refused SLACK_APP_TOKEN: one `so8t: error:` line naming it, no traceback, a non-zero exit
- SIGTERM / SIGINT stop the process within a few seconds, also while start or a reconnect is retrying
- the start-up line names the events URL only in HTTP mode; Socket Mode says so instead
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.adapters.slack.harness import SECRET
from tests.adapters.slack.socket_fake import FakeSlackSocket

ROOT = Path(__file__).resolve().parents[3]
STOP_WITHIN_S = 5.0  # "promptly": the whole process is gone this soon after the signal
UNAVAILABLE = {"ok": False, "error": "service_unavailable"}


class Served:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []

    async def line(self, prefix: str, timeout: float = 30.0) -> str:
        """The next stdout line starting with `prefix` (earlier lines are kept in `out`)."""
        assert self.proc.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            assert raw, f"serve exited before printing {prefix!r}: {self.out}"
            text = raw.decode().rstrip("\n")
            self.out.append(text)
            if text.startswith(prefix):
                return text

    async def stop(self, sig: signal.Signals) -> tuple[int, float, str]:
        """Send `sig`; returns the exit code, the seconds it took, and stderr."""
        sent = time.monotonic()
        self.proc.send_signal(sig)
        stdout, stderr = await asyncio.wait_for(self.proc.communicate(), 30)
        self.out += stdout.decode().splitlines()
        return int(self.proc.returncode or 0), time.monotonic() - sent, stderr.decode()


@asynccontextmanager
async def serve(tmp_path: Path, fake: FakeSlackSocket, **variables: str) -> AsyncIterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "SO8T_"))}
    env.update(SLACK_BOT_TOKEN="xoxb-test", SLACK_API_URL=fake.api_url, **variables)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "tests" / "adapters" / "slack" / "serve_slack.py"),
        str(tmp_path / "so8t.db"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
        env=env,
    )
    try:
        yield Served(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()


@asynccontextmanager
async def fake_slack() -> AsyncIterator[FakeSlackSocket]:
    fake = FakeSlackSocket()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def _healthz(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("error", ["invalid_auth", "missing_scope"])
async def test_a_refused_app_token_is_one_line_and_a_non_zero_exit(tmp_path: Path, error: str) -> None:
    async with fake_slack() as fake:
        fake.fail_next("apps.connections.open", 200, {}, {"ok": False, "error": error}, times=100)
        async with serve(tmp_path, fake, SLACK_APP_TOKEN="xapp-1-revoked") as served:
            stdout, stderr = await asyncio.wait_for(served.proc.communicate(), 30)
        code = served.proc.returncode
        err = stderr.decode()
        assert code == 2, err
        named = [line for line in err.splitlines() if "SLACK_APP_TOKEN" in line]
        assert len(named) == 1, err
        assert named[0].startswith(f"so8t: error: SLACK_APP_TOKEN was refused by Slack ({error}): ")
        assert "connections:write" in named[0]
        assert err.rstrip("\n").splitlines()[-1] == named[0]  # the last word is the error
        assert "Traceback" not in err
        assert "will be unused" not in err  # bolt's notice about SLACK_BOT_TOKEN: not a problem, not shown
        assert len(fake.called("apps.connections.open")) == 1  # no retry loop
        assert "connected" not in stdout.decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_serve_while_start_is_still_retrying(tmp_path: Path, sig: signal.Signals) -> None:
    async with fake_slack() as fake:
        fake.fail_next("apps.connections.open", 503, {}, UNAVAILABLE, times=1000)
        async with serve(tmp_path, fake, SLACK_APP_TOKEN="xapp-1-test") as served:
            await fake.wait_for(lambda: len(fake.called("apps.connections.open", status=503)) >= 2, timeout=30)
            code, took, err = await served.stop(sig)
        assert code == 0 and took < STOP_WITHIN_S, (code, took, err)
        assert "Traceback" not in err
        assert "retrying in" in err  # the transient errors were retried (with back-off), not fatal


async def test_socket_mode_start_line_health_and_sigterm_while_reconnecting(tmp_path: Path) -> None:
    async with fake_slack() as fake, serve(tmp_path, fake, SLACK_APP_TOKEN="xapp-1-test") as served:
        connected = await served.line("SO8T slack: connected")
        assert connected == "SO8T slack: connected (Slack: Socket Mode)"
        health = await served.line("SO8T health: ")
        assert all("slack/events" not in line for line in served.out)  # no events URL: it would 404
        healthz = health.split()[2]
        status, body = await _healthz(healthz)
        assert status == 200 and body["adapters"] == {"console": True, "slack": True}
        # Slack goes away: the socket closes and every apps.connections.open answers 503
        fake.fail_next("apps.connections.open", 503, {}, UNAVAILABLE, times=1000)
        await fake.drop()
        await fake.wait_for(lambda: len(fake.called("apps.connections.open", status=503)) >= 2, timeout=30)
        status, body = await _healthz(healthz)
        assert status == 503 and body["adapters"] == {"console": True, "slack": False}
        code, took, err = await served.stop(signal.SIGTERM)
        assert code == 0 and took < STOP_WITHIN_S, (code, took, err)
        assert "Traceback" not in err


async def test_http_mode_start_line_names_the_events_url_and_it_answers(tmp_path: Path) -> None:
    async with fake_slack() as fake, serve(tmp_path, fake, SLACK_SIGNING_SECRET=SECRET) as served:
        connected = await served.line("SO8T slack: connected")
        match = re.fullmatch(r"SO8T slack: connected \(events: (http://127\.0\.0\.1:\d+/slack/events)\)", connected)
        assert match, connected
        async with aiohttp.ClientSession() as http, http.post(match.group(1), data=b"{}") as resp:
            assert resp.status == 401  # there, and checking signatures (unsigned: refused), not 404
        code, took, err = await served.stop(signal.SIGTERM)
        assert code == 0 and took < STOP_WITHIN_S, (code, took, err)
        assert fake.called("apps.connections.open") == []
