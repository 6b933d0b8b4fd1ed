"""Test-only entry point: the real `so8t serve` loop (cli.ops.run_server: SIGINT/SIGTERM, the
start-up lines, one-line errors and exit codes) with the FakeRuntime, and Slack from the SLACK_*
variables the test sets (SLACK_API_URL points at its loopback fake). Logging as `so8t` sets it up.

Production `so8t serve` never honours a fake; only this helper does.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bot.config import parse_config  # noqa: E402
from cli.ops import run_server  # noqa: E402
from serve.app import build_app  # noqa: E402
from tests.support.fakes import FakeRuntime  # noqa: E402


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = parse_config({"policy": {"rate_limit": {"per_minute": 0}, "queue": {"busy_notice_after": 0}}}, "test")
    app = build_app(config, FakeRuntime(), db_path=sys.argv[1])
    run_server(app, "127.0.0.1", 0)


if __name__ == "__main__":
    main()
