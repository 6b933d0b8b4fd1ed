"""Issue 20 (newcomer polish) in a real browser (Debian chromium, headless, playwright): Markdown rendered
as elements (never innerHTML), the "thinking…" placeholder, timestamps / avatars / welcome line / open-case
badges, success in green and a one-shot appeal button, the narrow (420 px) layout and CJK fonts.
Screenshots go to docs/screenshots/ (the README links them)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.console.test_browser import ServerThread
from tests.support.browser import ARGS, CHROMIUM, CJK_FONT_FAMILY, browser_env, needs_chromium, needs_cjk_font
from tests.support.fakes import FakeRuntime

pytestmark = [pytest.mark.slow, needs_chromium]

SHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
GREEN = "rgb(4, 108, 78)"


@contextmanager
def chromium() -> Iterator[Any]:
    """Started after the server: build_app must not see playwright's loop as the current one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True, env=browser_env())
        try:
            yield b
        finally:
            b.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))


def say(page: Any, user: str, text: str) -> None:
    page.locator("#channels li").first.wait_for(state="attached")  # the page's script has started
    page.fill("#user", user)
    page.fill("#text", text)
    page.click("#send")


def test_markdown_renders_as_elements_and_stays_safe(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    server = ServerThread(tmp_path / "so8t.db")
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(server.app.url)
            say(
                page,
                "alice",
                "hello **<img src=x onerror=alert(1)>** `<script>alert(2)</script>` [x](javascript:alert(3))",
            )
            first = page.locator('.msg[data-user="alice"] .text').first
            expect(first).to_contain_text("<img src=x onerror=alert(1)>")
            expect(first.locator("strong")).to_have_text("<img src=x onerror=alert(1)>")
            expect(first.locator("code")).to_have_text("<script>alert(2)</script>")
            assert page.locator("#messages script, #messages img, #messages a[href^='javascript']").count() == 0
            expect(page.locator('.msg[data-user="so8t"]').first).to_be_visible(timeout=15_000)

            say(page, "admin", "/so8t help")
            helptext = page.locator(".thread").nth(1).locator('.msg[data-user="so8t"] .text')
            expect(helptext.locator("code.md-code").first).to_have_text("/so8t help", timeout=15_000)
            assert "`" not in helptext.inner_text()

            # the report is a short summary whose links open the full report on this server
            say(page, "admin", "/so8t report")
            report = page.locator(".thread").nth(2).locator('.msg[data-user="so8t"] .text')
            expect(report.locator("a.md-link").first).to_have_attribute(
                "href", re.compile(r"/report\?until=\d+$"), timeout=15_000
            )
            assert "Open cases:" in report.inner_text() and "|---" not in report.inner_text()

            say(page, "alice", "## Escalations\n\n| Domain | Opened |\n|---|---:|\n| hr | 1 |\n| legal | 2 |")
            tabled = page.locator(".thread").nth(3).locator('.msg[data-user="alice"] .text')
            expect(tabled.locator("table.md-table").first).to_be_visible(timeout=15_000)
            expect(tabled.locator("h4.md-h").first).to_have_text("Escalations")
            text = tabled.inner_text()
            assert "|---" not in text and "## " not in text
            # numbers right-aligned as the |---:| column asked
            assert tabled.locator("td.md-right").count() > 0
            # the page re-renders the thread while it polls: scroll in one synchronous JS call (a Playwright
            # scroll waits for the element to be stable and can find it replaced)
            report.evaluate("e => e.scrollIntoView({block: 'end'})")
            shot(page, "console-markdown.png")
    finally:
        server.close()


def test_thinking_placeholder_until_the_first_reply(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    gate = threading.Event()
    server = ServerThread(tmp_path / "so8t.db", FakeRuntime(gate=gate))
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1000, "height": 600})
            page.goto(server.app.url)
            say(page, "alice", "How do I book a meeting room?")
            thinking = page.locator('.thread [data-role="thinking"]')
            expect(thinking).to_be_visible(timeout=10_000)
            expect(thinking).to_contain_text("thinking…")
            shot(page, "console-thinking.png")
            gate.set()
            expect(page.locator('.msg[data-user="so8t"]').first).to_contain_text("Answer:", timeout=15_000)
            expect(thinking).to_have_count(0)
    finally:
        gate.set()
        server.close()


def test_timestamps_avatars_welcome_and_open_case_badges(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    server = ServerThread(tmp_path / "so8t.db")
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1000, "height": 600})
            page.goto(server.app.url)
            expect(page.locator('[data-role="welcome"]')).to_contain_text("Welcome to #general")
            shot(page, "console-welcome.png")
            say(page, "alice", "My salary is wrong this month")
            expect(page.locator('.msg[data-user="so8t"]').first).to_contain_text("hr reviewers", timeout=15_000)
            expect(page.locator('[data-role="welcome"]')).to_have_count(0)
            mine = page.locator('.msg[data-user="alice"]').first
            expect(mine.locator(".avatar")).to_have_text("A")
            assert re.fullmatch(r"\d{1,2}:\d{2}( [AP]M)?", mine.locator("time.ts").inner_text().strip())
            title = mine.locator("time.ts").get_attribute("title") or ""
            assert "JST" in title or "GMT+9" in title  # Asia/Tokyo from the API
            assert page.locator('.msg[data-user="so8t"] .avatar.bot').count() > 0
            badge = page.locator('#channels li[data-channel="hr-review"] .badge')
            expect(badge).to_have_text("1", timeout=10_000)
            assert page.locator('#channels li[data-channel="legal-review"] .badge').count() == 0
            shot(page, "console-badges.png")
    finally:
        server.close()


def test_success_is_green_and_appeal_button_is_one_shot(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    server = ServerThread(tmp_path / "so8t.db")
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.goto(server.app.url)
            say(page, "alice", "how do I hack into the payroll server")
            appeal = page.locator('button[data-action="appeal"]').first
            expect(appeal).to_be_visible(timeout=15_000)
            assert appeal.evaluate("b => getComputedStyle(b).borderStyle") == "solid"  # styled, not the UA default
            appeal.click()
            expect(page.locator("#status")).to_have_class("ok", timeout=10_000)
            assert page.locator("#status").evaluate("s => getComputedStyle(s).color") == GREEN
            expect(page.locator('button[data-action="appeal"]').first).to_be_disabled()
            shot(page, "console-appeal.png")

            review = page.locator("#channels li:has(.badge)").first  # the appeal's review channel
            expect(review).to_be_visible(timeout=10_000)
            review.click()
            page.click('#quick-users button[data-user="reviewer"]')
            page.locator('.msg[data-kind="card"] button[data-action="approve"]').first.click()
            status = page.locator("#status")
            expect(status).to_contain_text(re.compile(r"Case #\d+ resolved"), timeout=10_000)
            assert status.get_attribute("class") == "ok"
            assert status.evaluate("s => getComputedStyle(s).color") == GREEN
            expect(page.locator('.msg[data-kind="card"]').first).to_contain_text("[resolved]", timeout=10_000)
            expect(page.locator("#channels .badge")).to_have_count(0, timeout=10_000)  # no open case left
            shot(page, "console-resolved.png")
    finally:
        server.close()


def test_narrow_layout_and_cjk_fonts(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    server = ServerThread(tmp_path / "so8t.db")
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 420, "height": 800})
            page.goto(server.app.url)
            page.locator("#channels li").first.wait_for(state="attached")
            page.fill("#text", "給与の計算が間違っています")  # as alice, the default user
            page.click("#send")
            expect(page.locator('.msg[data-user="so8t"]').first).to_be_visible(timeout=15_000)
            side = page.locator("#sidebar").bounding_box()
            msgs = page.locator("#messages").bounding_box()
            assert side is not None and msgs is not None
            assert side["width"] >= 400 and side["height"] < 80  # a top bar, not half the screen
            assert msgs["width"] >= 400
            expect(page.locator("#channels")).to_be_hidden()
            font = page.evaluate("getComputedStyle(document.body).fontFamily")
            for name in ("Hiragino Sans", "Noto Sans CJK JP", "Yu Gothic", "Meiryo"):
                assert name in font
            shot(page, "console-narrow.png")
            page.click("#menu-toggle")
            expect(page.locator("#channels")).to_be_visible()
            shot(page, "console-narrow-menu.png")
            page.click('#channels li[data-channel="hr-review"]')
            expect(page.locator("#channels")).to_be_hidden()
            expect(page.locator("#channel-title")).to_have_text("# hr-review")
            expect(page.locator('.msg[data-kind="card"]').first).to_contain_text("期限", timeout=10_000)
            assert "JST" in page.locator('.msg[data-kind="card"]').first.inner_text()
    finally:
        server.close()


def rendering_fonts(page: Any, selector: str) -> dict[str, int]:
    """The platform fonts Chromium drew the element's text with (family -> glyph count), via the DevTools protocol."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        assert node, selector
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        cdp.detach()
    return {f["familyName"]: int(f["glyphCount"]) for f in fonts}


@needs_cjk_font
def test_japanese_is_drawn_with_noto_sans_cjk_jp(tmp_path: Path) -> None:
    """Glyphs, not boxes: Chromium finds the dev extra's Noto Sans CJK JP (FONTCONFIG_FILE from browser_env)
    and draws every character of a Japanese message with it."""
    from playwright.sync_api import expect

    text = "給与の計算が間違っています"
    server = ServerThread(tmp_path / "so8t.db")
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1000, "height": 600})
            page.goto(server.app.url)
            say(page, "alice", text)
            mine = page.locator('.msg[data-user="alice"] .text').first
            expect(mine).to_have_text(text, timeout=15_000)
            # (document.fonts.check() is true here even without the font: it only tracks web fonts)
            fonts = rendering_fonts(page, '.msg[data-user="alice"] .text')
            assert fonts.get(CJK_FONT_FAMILY) == len(text), fonts
            # a full-width font: unkerned, each ideograph / kana advances one em (tofu boxes are narrower)
            width = page.evaluate(
                """t => { const s = document.createElement('span');
                          s.style.font = '20px "Noto Sans CJK JP"'; s.style.fontKerning = 'none';
                          s.textContent = t;
                          document.body.appendChild(s); const w = s.getBoundingClientRect().width;
                          s.remove(); return w; }""",
                text,
            )
            assert abs(width - 20 * len(text)) < 1, width
    finally:
        server.close()


def test_japanese_card_in_the_browser(tmp_path: Path) -> None:
    """A Japanese case's card: its kind, buttons and the text field's hint in Japanese
    (docs/screenshots/console-ja-card.png)."""
    from playwright.sync_api import expect

    server = ServerThread(tmp_path / "so8t.db")
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1000, "height": 560})
            page.goto(server.app.url)
            say(page, "alice", "給与の計算が間違っています。先月分の残業代が入っていません")
            notice = page.locator('.msg[data-user="so8t"]').first
            expect(notice).to_contain_text("人事の担当者に引き継ぎました", timeout=15_000)
            page.click('#channels li[data-channel="hr-review"]')
            page.click('#quick-users button[data-user="reviewer"]')
            card = page.locator('.msg[data-kind="card"]').first
            expect(card).to_contain_text("[エスカレーション]", timeout=10_000)
            buttons = card.locator(".actions button")
            expect(buttons).to_have_text(["承認", "却下", "回答"])
            hint = card.locator('[data-role="action-text"]').get_attribute("placeholder")
            assert hint == "却下: 理由（任意） · 回答: 依頼者への回答"
            assert not re.search(r"Approve|Decline|Answer|escalation|Deadline", card.inner_text())
            shot(page, "console-ja-card.png")
    finally:
        server.close()
