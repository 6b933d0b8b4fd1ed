"""Which chat platforms `so8t serve` runs: Slack when SLACK_BOT_TOKEN is set, Discord when
DISCORD_TOKEN is set, both in one process on one Bot (one model, one store). The console is always
built by serve.app; these are added next to it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from bot.config import Config
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.core import Bot


class PlatformAdapter(Protocol):
    @property
    def platform(self) -> str: ...

    def routes(self) -> list[Any]:
        """aiohttp routes to serve on the bot's web port (Slack over HTTP); [] when none."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def enabled(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if env is None else env
    names = []
    if env.get("SLACK_BOT_TOKEN", "").strip():
        names.append("slack")
    if env.get("DISCORD_TOKEN", "").strip():
        names.append("discord")
    return tuple(names)


def create_platforms(
    config: Config, bot: Bot, env: Mapping[str, str] | None = None, only: Sequence[str] | None = None
) -> list[PlatformAdapter]:
    """Build (not start) and register in `bot.adapters` every platform whose token is set.

    Raises bot.errors.ConfigError (one line) when a platform's variables are incomplete. Imports
    slack-bolt / discord.py only for the platforms in use."""
    env = os.environ if env is None else env
    out: list[PlatformAdapter] = []
    for name in enabled(env):
        if only is not None and name not in only:
            continue
        try:
            if name == "slack":
                from adapters.slack.adapter import create as create_slack

                out.append(create_slack(config, bot, env))
            else:
                from adapters.discord.adapter import create as create_discord

                out.append(create_discord(config, bot, env))
        except ImportError:
            raise _missing_extra(name) from None
    return out


def _missing_extra(name: str) -> ConfigError:
    token = "SLACK_BOT_TOKEN" if name == "slack" else "DISCORD_TOKEN"
    return ConfigError(f"{token} is set but the {name} extra is missing: pip install 'so8t[{name}]'")


def check_platforms(config: Config, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Check the variables and config section of every platform whose token is set, building nothing
    (no Bot, no model): what `so8t serve` checks before the model loads. Returns the platforms' names;
    raises bot.errors.ConfigError (one line), as create_platforms would."""
    env = os.environ if env is None else env
    names = enabled(env)
    for name in names:
        try:
            if name == "slack":
                from adapters.slack.adapter import settings_from_env as slack_settings

                slack_settings(env, config)
            else:
                from adapters.discord.adapter import settings_from_env as discord_settings

                discord_settings(env, config)
        except ImportError:
            raise _missing_extra(name) from None
    return names
