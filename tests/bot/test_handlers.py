"""bot/handlers.py: every parsed command has a handler registered by its name, and `/so8t` commands are
answered through the registry (console adapter, real store, FakeRuntime)."""

from __future__ import annotations

import typing
from pathlib import Path

from bot import commands
from bot.handlers import HANDLERS
from tests.support.console_helpers import console_app


def test_every_command_type_has_a_handler() -> None:
    kinds = typing.get_args(commands.Command)
    assert {k.name for k in kinds} == set(HANDLERS)
    assert commands.parse("/so8t nonsense", 0.0).name == "error"


async def test_commands_are_answered_by_their_handlers(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        helped = await c.say("alice", "/so8t help")
        status = await c.say("alice", "/so8t status")
        report = await c.say("alice", "/so8t report")  # alice is no admin
        wrong = await c.say("alice", "/so8t frobnicate")
        await app.bot.wait_idle()
        assert "/so8t" in (await c.bot_replies(helped["thread"]))[0]["text"]
        assert (await c.bot_replies(status["thread"]))[0]["text"]
        assert "admin" in (await c.bot_replies(report["thread"]))[0]["text"]
        assert "frobnicate" in (await c.bot_replies(wrong["thread"]))[0]["text"]
