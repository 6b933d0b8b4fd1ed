"""The errors the core raises and its callers catch, in a module that imports nothing.

Adapters, serving code and the CLI catch these without importing the store or the config loader.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A user-fixable problem in config.yaml or the environment; str() is one line."""


class StoreError(RuntimeError):
    """The store cannot be opened or written; str() is one line (corrupt, locked, disk full...)."""
