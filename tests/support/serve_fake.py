"""Test-only entry point: `so8t serve` with the FakeRuntime (for the kill -9 restart test).

Production `so8t serve` never honours a fake; only this helper does. It prints
`listening PORT` once up and `finished EVENT_ID STATE` for every finished event (flushed),
so the test waits on lines instead of sleeping.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.config import parse_config  # noqa: E402
from serve.app import App, build_app, serve_forever  # noqa: E402
from tests.support.fakes import FakeRuntime  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--delay", type=float, default=float(os.environ.get("SO8T_FAKE_DELAY", "0")))
    p.add_argument("--lease", type=float, default=30.0)
    args = p.parse_args()
    config = parse_config(
        {
            "storage": {"lease": args.lease},
            "policy": {
                "rate_limit": {"per_minute": 0},
                "queue": {"busy_notice_after": 0, "max_total": 10000},
            },
        },
        "test",
    )
    app = build_app(config, FakeRuntime(delay_s=args.delay), db_path=args.db)

    def finished(platform: str, event_id: str, state: str) -> None:
        print(f"finished {event_id} {state}", flush=True)

    app.bot.on_finished.append(finished)

    def ready(a: App) -> None:
        print(f"listening {a.port}", flush=True)

        async def report_idle() -> None:
            await a.bot.wait_idle()
            print("idle", flush=True)

        idle_task.append(asyncio.get_running_loop().create_task(report_idle()))

    idle_task: list[asyncio.Task[None]] = []

    asyncio.run(serve_forever(app, "127.0.0.1", 0, ready))


if __name__ == "__main__":
    main()
