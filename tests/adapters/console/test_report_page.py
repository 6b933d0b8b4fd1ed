"""The console's report page and file (issue 20): `/so8t report` in the console answers with a short
summary whose links, served by the console's own HTTP server, give the HTML report and the Markdown file."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from tests.bot.test_reports import WEEK, fill
from tests.support.console_helpers import console_app
from tests.support.fakes import FakeRuntime
from tests.support.ops_helpers import Clock, ops_config, tokyo


async def test_the_summary_links_to_the_page_and_the_file(tmp_path: Path) -> None:
    await fill(tmp_path)
    clock = Clock(tokyo(2026, 11, 24, 10))
    async with console_app(tmp_path, ops_config(tmp_path), FakeRuntime(), clock=clock) as (app, c):
        posted = await c.say("admin", f"/so8t report --week {WEEK}")
        await app.bot.wait_idle()
        text = (await c.bot_replies(posted["thread"]))[0]["text"]
        assert len(text.splitlines()) == 6 and "| ESCALATE |" not in text
        page, download = re.findall(r"https?://\S+", text)
        assert page == f"{app.url}report?week={WEEK}" and download == f"{app.url}report.md?week={WEEK}"
        async with aiohttp.ClientSession() as http:
            async with http.get(page) as resp:
                html = await resp.text()
                assert resp.status == 200 and resp.content_type == "text/html"
                assert "script-src" not in resp.headers["Content-Security-Policy"]  # default-src 'none'
                assert resp.headers["Cache-Control"] == "no-store"
            async with http.get(download) as resp:
                md = await resp.text()
                assert resp.status == 200 and resp.content_type == "text/markdown"
                assert resp.headers["Content-Disposition"] == 'attachment; filename="so8t-report-2026-W47.md"'
    assert "<title>SO8T audit report 2026-W47</title>" in html and html.count("<svg") >= 5 and "<script" not in html
    assert md.startswith("# SO8T audit report 2026-W47") and "| ESCALATE | 5 |" in md and "Appeals: 1 opened" in md


async def test_an_open_ended_report_and_bad_queries(tmp_path: Path) -> None:
    clock = Clock(tokyo(2026, 11, 17, 10))
    async with console_app(tmp_path, ops_config(tmp_path), FakeRuntime(), clock=clock) as (app, c):
        await c.say("alice", "hello")
        await app.bot.wait_idle()
        posted = await c.say("admin", "/so8t report --since 1d")
        await app.bot.wait_idle()
        text = (await c.bot_replies(posted["thread"]))[0]["text"]
        since, until = int(clock.t - 86400), int(clock.t) + 1  # the end is exclusive: `now` is in
        assert f"{app.url}report?since={since}&until={until} (charts)" in text
        status, md = await c.get("/report.md", since=str(since), until=str(until))
        assert status == 200 and "Decisions: 1" in md
        status, md = await c.get("/report.md", since="7d")  # what the CLI reads works here too
        assert status == 200 and "Decisions: 1" in md
        for query, needle in (
            ({"week": "2026-47"}, "cannot read week '2026-47'"),
            ({"week": "2026-W60"}, "cannot read week '2026-W60'"),
            ({"since": "yesterday"}, "cannot read time 'yesterday'"),
        ):
            status, body = await c.get("/report", **query)
            assert status == 400 and needle in body and len(body.strip().splitlines()) == 1, (query, body)
