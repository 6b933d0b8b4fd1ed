"""The HTML report renders in headless Chromium: non-empty page, the inline SVG charts are drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_html_report_has_the_answers_section_of_the_markdown_report() -> None:
    """The guard's outcomes of ALLOW answers and the response head's stops, with the Markdown's figures, escaped."""
    import re

    from markupsafe import escape

    from bot.reports import ANSWERS_DEFINITION, Report, render_markdown

    answers = {"ok": 7, "shortened": 2, "response_flagged": 1, "fallback_language": 3, "<b>odd</b>": 1}
    rest: dict[str, Any] = {
        "escalations": {"opened": {}, "resolved": {}, "overdue": {}, "ttr_s": {}},
        "versions": {"models_seen": {}, "heads_seen": {}},
    }
    rep = Report(None, None, {"verdict": {"ALLOW": 14}}, {}, answers=answers, response_stops={"REFUSE": 1}, **rest)
    html, md = render_html(rep), render_markdown(rep)
    section = html.split("<h2>Answers</h2>", 1)[1].split("<h2>", 1)[0]
    rows = dict(re.findall(r'<tr><td>([^<]*)</td><td class="n">(\d+)</td></tr>', section))
    md_rows = dict(re.findall(r"^\| (.+?) \| (\d+) \|$", md.split("## Answers", 1)[1].split("## ", 1)[0], re.M))
    assert rows == {"&lt;b&gt;odd&lt;/b&gt;" if k == "<b>odd</b>" else k: v for k, v in md_rows.items()}
    assert rows["ok"] == "7" and rows["fallback_language"] == "3" and rows["response_flagged"] == "1"
    assert "<b>odd</b>" not in html  # escaped like every other cell
    assert '<table class="counts" id="answers"' in section
    assert str(escape(ANSWERS_DEFINITION)) in section
    assert "Answers stopped by the response head: REFUSE 1" in section
    empty = render_html(Report(None, None, {"verdict": {}}, {}, **rest)).split("<h2>Answers</h2>", 1)[1]
    empty = empty.split("<h2>", 1)[0]
    assert '<td class="empty">none</td><td class="n">0</td>' in empty and "response-stops" not in empty
