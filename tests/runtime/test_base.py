"""runtime/base.py: SAFETY_THRESHOLD is the one default of the safety threshold everywhere."""

from __future__ import annotations

import inspect

from bot.config import parse_config
from runtime.base import SAFETY_THRESHOLD
from runtime.gate import GatePolicy
from runtime.rationale import render_rationale
from runtime.settings import ModelSettings


def test_every_default_threshold_is_the_constant() -> None:
    assert SAFETY_THRESHOLD == 0.8  # documented in README and config.example.yaml
    assert ModelSettings().safety_threshold == SAFETY_THRESHOLD
    assert GatePolicy().threshold == SAFETY_THRESHOLD
    assert parse_config({}).safety_threshold == SAFETY_THRESHOLD
    assert inspect.signature(render_rationale).parameters["threshold"].default == SAFETY_THRESHOLD
