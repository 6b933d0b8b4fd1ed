"""`so8t` command line: the click group; each command group is a module of `cli` (model, ops, train, answers, kb)."""

from __future__ import annotations

import logging
import os
import sys

import click

from cli import answers, kb, model, ops, pool, train
from cli.common import CliState


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


for _group in (answers, kb, model, ops, pool, train):
    _group.register(main)
