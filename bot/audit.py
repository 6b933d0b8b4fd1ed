"""Deprecated: the store is the package bot/store (import from `bot.store`). This name stays only until the
modules being written against it move over; nothing in the tree imports it."""

from __future__ import annotations

from bot.store import *  # noqa: F403
from bot.store import __all__  # noqa: F401
