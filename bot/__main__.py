"""`python -m bot` = the `so8t` command."""

from bot.cli import main

main(prog_name="so8t")
