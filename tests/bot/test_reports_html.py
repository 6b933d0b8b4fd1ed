"""The HTML report renders in headless Chromium: non-empty page, the inline SVG charts are drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.reports import build_report, render_html, week_range
from bot.store import AuditStore
from tests.bot.test_reports import WEEK, fill
from tests.support.browser import ARGS, CHROMIUM, browser_env, needs_chromium


@pytest.mark.slow
@needs_chromium
async def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    db, clock = await fill(tmp_path)
    store = AuditStore(db)
    html = render_html(build_report(store, *week_range(WEEK, "Asia/Tokyo"), now=clock.t, label=WEEK))
    store.close()
    page_file = tmp_path / "report.html"
    page_file.write_text(html, encoding="utf-8")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, env=browser_env())
        try:
            page = await browser.new_page(viewport={"width": 1000, "height": 800})
            await page.goto(page_file.as_uri())
            shot = await page.screenshot(full_page=True, path=str(tmp_path / "report.png"))
            charts = await page.locator("svg.chart-svg").count()
            bars = await page.locator("svg.chart-svg rect").count()
            box = await page.locator("svg.chart-svg").first.bounding_box()
            title = await page.title()
            body = await page.inner_text("body")
            pdf = await page.pdf()  # printable
        finally:
            await browser.close()
    assert len(shot) > 20_000  # a real picture, not a blank page
    assert charts >= 5 and bars >= 10 and box is not None and box["width"] > 100 and box["height"] > 20
    assert "SO8T audit report 2026-W47" in title and "Requests by verdict" in body
    assert pdf[:4] == b"%PDF"
