"""Test-only entry point: the real `so8t serve` command line with the FakeRuntime as its model (no model
loads); everything else (preflight, the Discord adapter, start-up errors, shutdown) is the production path."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import runtime.loader  # noqa: E402
from tests.support.fakes import FakeRuntime  # noqa: E402


def _fake_runtime(settings: Any) -> FakeRuntime:
    return FakeRuntime()


def run() -> int | str | None:
    runtime.loader.load_runtime = _fake_runtime  # type: ignore[assignment]
    from cli.main import main

    try:
        main(sys.argv[1:], prog_name="so8t")
    except SystemExit as exc:
        return exc.code
    return 0


if __name__ == "__main__":
    code = run()
    # collect now, with the exception and its frames gone and warnings and logging still working: an
    # unclosed aiohttp session or connector says so from its finaliser ("Unclosed connector"), which
    # interpreter teardown may never print
    gc.collect()
    sys.exit(code)
