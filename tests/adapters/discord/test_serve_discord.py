"""`so8t serve` with Discord, as a process (only the model is a fake; Discord is the loopback
DiscordServer): "connected" only after READY, and one line, a non-zero exit and nothing left unclosed
when Discord refuses the token or the REST base answers something that is not JSON."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.adapters.discord.servers import HTML_ERROR, DiscordServer

MAIN = Path(__file__).resolve().parent / "serve_main.py"


@asynccontextmanager
async def serving(tmp_path: Path, fake: DiscordServer) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SO8T_", "SLACK_", "DISCORD_"))}
    env.update(
        DISCORD_TOKEN="test-token",
        DISCORD_API_URL=fake.api_url,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        PYTHONWARNINGS="always::ResourceWarning",  # an unclosed session or socket would be printed
        PYTHONUNBUFFERED="1",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(MAIN),
        "serve",
        "--db",
        str(tmp_path / "so8t.db"),
        "--port",
        "0",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _finished(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _no_leaks(stderr: str) -> None:
    assert "Unclosed" not in stderr and "ResourceWarning" not in stderr and "Traceback" not in stderr, stderr


async def test_serve_prints_connected_only_after_the_gateways_ready(tmp_path: Path) -> None:
    fake = DiscordServer()
    await fake.start()
    fake.ready_gate.clear()
    try:
        async with serving(tmp_path, fake) as proc:
            assert proc.stdout is not None
            await fake.wait_for(lambda: fake.called("identify"), timeout=60)  # logged in, gateway opened
            early = await asyncio.gather(asyncio.wait_for(proc.stdout.readline(), 1.0), return_exceptions=True)
            assert isinstance(early[0], TimeoutError), early  # nothing printed before READY
            fake.ready_gate.set()
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line.decode().strip() == "SO8T discord: connected"
            proc.send_signal(signal.SIGINT)
            code, _out, err = await _finished(proc)
            assert code == 0, err
            _no_leaks(err)
    finally:
        await fake.stop()


async def test_serve_with_a_bad_token_is_one_line_and_leaves_nothing_unclosed(tmp_path: Path) -> None:
    fake = DiscordServer()
    await fake.start()
    fake.reply_raw("me", '{"message": "401: Unauthorized", "code": 0}', 401, "application/json")
    try:
        async with serving(tmp_path, fake) as proc:
            code, out, err = await _finished(proc)
        assert code == 2 and "connected" not in out
        assert "so8t: error: Discord rejected DISCORD_TOKEN (check the bot token)" in err.splitlines()
        _no_leaks(err)
    finally:
        await fake.stop()


async def test_serve_with_a_rest_base_answering_html_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    fake = DiscordServer()
    await fake.start()
    fake.reply_raw("me", HTML_ERROR, 200, "text/html")
    try:
        async with serving(tmp_path, fake) as proc:
            code, out, err = await _finished(proc)
        errors = [line for line in err.splitlines() if line.startswith("so8t: error:")]
        assert code == 2 and "connected" not in out and len(errors) == 1, err
        assert "GET /users/@me" in errors[0] and "not JSON" in errors[0] and "DISCORD_API_URL" in errors[0]
        assert "WARNING so8t.discord" not in err  # the one line, not a log line besides it
        _no_leaks(err)
    finally:
        await fake.stop()
