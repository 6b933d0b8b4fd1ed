"""The whole loop in a real browser (Debian chromium, headless, driven by playwright; never downloaded):
ask in #general, see the card in #hr-review, Approve as `reviewer`, see the resolution in the thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from bot.config import parse_config
from serve.app import build_app
from tests.support.browser import ARGS, CHROMIUM, browser_env, needs_chromium
from tests.support.console_helpers import QUIET
from tests.support.fakes import FakeRuntime

pytestmark = [
    pytest.mark.slow,
    needs_chromium,
]


class ServerThread:
    """The console server on its own loop in a thread, so the sync playwright API can drive the page."""

    def __init__(self, db: Path, runtime: FakeRuntime | None = None) -> None:
        self.app = build_app(parse_config(QUIET, "test"), runtime or FakeRuntime(), db_path=str(db))
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.stop_event = asyncio.Event()
            await self.app.start("127.0.0.1", 0)
            self.ready.set()
            await self.stop_event.wait()
            await self.app.stop()

        self.loop.run_until_complete(main())

    def close(self) -> None:
        assert self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)


def test_ask_escalate_approve_in_the_browser(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    server = ServerThread(tmp_path / "so8t.db")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True, env=browser_env())
            try:
                page = browser.new_page()
                page.goto(server.app.url)
                page.fill("#user", "alice")
                page.fill("#text", "My manager keeps changing my salary <script>alert(1)</script>")
                page.click("#send")
                thread = page.locator(".thread").first
                expect(thread.locator('.msg[data-user="so8t"]')).to_contain_text("hr reviewers", timeout=15_000)
                # the script tag is shown as text, never run
                expect(thread.locator('.msg[data-user="alice"] .text')).to_contain_text("<script>alert(1)</script>")
                assert page.locator("#messages script").count() == 0

                page.click('#channels li[data-channel="hr-review"]')
                card = page.locator('.msg[data-kind="card"]').first
                expect(card).to_contain_text("salary", timeout=15_000)
                page.click('#quick-users button[data-user="reviewer"]')
                card.locator('button[data-action="approve"]').click()
                expect(page.locator('.msg[data-kind="card"]').first).to_contain_text("[resolved]", timeout=15_000)

                page.click('#channels li[data-channel="general"]')
                expect(page.locator(".thread").first).to_contain_text(
                    "Your request was approved; reviewer will follow up.", timeout=15_000
                )
                expect(page.locator(".thread").first).not_to_contain_text("Answer: My manager keeps changing")
            finally:
                browser.close()
    finally:
        server.close()
