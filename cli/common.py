"""What every `so8t` command group shares: the group's state (the config, loaded once), one-line
failures, and the settings a command needs from it."""

from __future__ import annotations

import sys
from typing import Any

import click

from bot.config import Config, load_config
from bot.errors import ConfigError

DB_HELP = "store (default $SO8T_DB, storage.path or var/so8t.db)"


class CliState:
    """What the group options give the commands: the loaded config, read once."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                fail(str(exc))
        assert self._config is not None
        return self._config


def fail(message: str, code: int = 2) -> None:
    """Print one clear line to stderr and exit (no traceback for user-caused errors)."""
    click.echo(f"so8t: error: {message}", err=True)
    sys.exit(code)


def bot_settings(state: Any, db: str | None) -> Any:
    """The bot settings for `db` (None: $SO8T_DB, storage.path or the default); a config error exits."""
    from bot.settings import load_settings

    try:
        return load_settings(state.config, db)
    except ConfigError as exc:
        fail(str(exc))


def db_path(state: Any, db: str | None) -> str:
    """The SQLite file of the document index for `db` (`bot_settings` resolves the store): the store
    itself, or beside a PostgreSQL store the local file of bot.store.kb_path."""
    from bot.store import kb_path

    return str(kb_path(bot_settings(state, db).db_path))
