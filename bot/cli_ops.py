"""Bot operation commands (serve, report, audit, ...): registered into the `so8t` group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add the operation commands to `group`."""
