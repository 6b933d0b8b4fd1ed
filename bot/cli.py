"""`so8t` command line: a thin layer over the library (model commands in cli_model, bot ops in cli_ops)."""

from __future__ import annotations

import logging
import os
import sys

import click

from bot.config import Config, load_config
from bot.errors import ConfigError


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", default=None, help="config.yaml path (default: $SO8T_CONFIG or ./config.yaml)")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="debug logging (also APScheduler and llama.cpp warnings; SO8T_LLAMA_LOG=1: all llama.cpp output)",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """SO8T: a safety-gated chat-ops bot with a local dual-head model."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else getattr(logging, os.environ.get("SO8T_LOG_LEVEL", "INFO").upper(), 20),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # APScheduler logs every job added and run at INFO; the scheduler's own lines say what matters
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)
    ctx.obj = CliState(config_path)


def _register() -> None:
    from bot import cli_answers, cli_kb, cli_model, cli_ops, cli_train

    cli_answers.register(main)
    cli_kb.register(main)
    cli_model.register(main)
    cli_ops.register(main)
    cli_train.register(main)


_register()
