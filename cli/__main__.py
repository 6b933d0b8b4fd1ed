"""`python -m cli` = the `so8t` command."""

from cli.main import main

main(prog_name="so8t")
