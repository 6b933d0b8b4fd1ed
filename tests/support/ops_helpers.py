"""Shared by the scheduler / report / feedback tests: a clock the test moves, and ops config in tmp_path."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=TOKYO).timestamp()


class Clock:
    """Time under the test's control: `clock()` reads it, `clock.t = ...` / `clock.advance(s)` move it."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def ops_config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "policy": {"rate_limit": {"per_minute": 0}, "queue": {"busy_notice_after": 0}},
        "reports": {"dir": str(tmp_path / "reports"), "channels": {"console": "general"}},
        "feedback": {"dir": str(tmp_path / "feedback")},
        "retrain": {"models_dir": str(tmp_path / "models"), "versions_dir": str(tmp_path / "versions")},
    }
    cfg.update(extra)
    return cfg
