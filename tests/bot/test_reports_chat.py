"""`/so8t report` in chat (issue 20): a short localized summary, and the full report as a file where the
adapter sends files (`reply_file`), else a link to the console's report page or the CLI command."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.events import Button
from bot.replies import Replies
from bot.reports import (
    Report,
    age_text,
    build_report,
    report_cli_args,
    report_query,
    summary_facts,
    week_range,
)
from bot.store import AuditStore
from runtime.hazards import hazard_label
from tests.bot.test_reports import WEEK, fill
from tests.support.console_helpers import console_app
from tests.support.fakes import FakeRuntime
from tests.support.ops_helpers import Clock, ops_config, tokyo

SUMMARY = [
    "SO8T report 2026-W47",
    "Period: 2026-11-16 00:00 – 2026-11-23 00:00 (Asia/Tokyo)",
    "Requests: 8 (+6 vs the previous period) · ALLOW 1 · REFUSE 2 · ESCALATE 5",
    "Open cases: 2 (compliance 1, privacy 1) · the oldest open for 7.0 d",
    "Top categories: compliance 1 · harassment and threats 1 · hr 1",
]


class FileAdapter:
    """The console adapter with a `reply_file` as Slack's and Discord's: records the file, posts the text."""

    def __init__(self, inner: Any, fail: Exception | None = None) -> None:
        self.inner = inner
        self.fail = fail
        self.files: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def reply(
        self, channel: str, thread: str, text: str, key: str, buttons: Sequence[Button] = (), kind: str = "answer"
    ) -> str:
        return str(await self.inner.reply(channel, thread, text, key, buttons, kind))

    async def reply_file(
        self, channel: str, thread: str, text: str, filename: str, content: bytes, key: str, lang: str = "en"
    ) -> str:
        if self.fail is not None:
            raise self.fail
        self.files.append({"filename": filename, "content": content, "lang": lang, "key": key})
        return await self.reply(channel, thread, text, key, kind="command")


async def _ask(tmp_path: Path, command: str, fail: Exception | None = None, console_url: bool = True) -> Any:
    await fill(tmp_path)
    clock = Clock(tokyo(2026, 11, 24, 10))
    async with console_app(tmp_path, ops_config(tmp_path), FakeRuntime(), clock=clock) as (app, c):
        adapter = FileAdapter(app.console, fail)
        app.bot.adapters["console"] = adapter  # type: ignore[assignment]
        if not console_url:
            app.bot.console_url = ""  # as when only Slack / Discord are served
        posted = await c.say("admin", command)
        await app.bot.wait_idle()
        replies = await c.bot_replies(posted["thread"])
        errors = app.bot.metrics.errors.values.get(("report_file",), 0)
    return [r["text"] for r in replies], adapter.files, errors


async def test_a_short_summary_and_the_full_report_as_a_file(tmp_path: Path) -> None:
    texts, files, _ = await _ask(tmp_path, f"/so8t report --week {WEEK}")
    assert len(texts) == 1 and texts[0].splitlines() == SUMMARY  # no wall of Markdown, no link needed
    assert len(files) == 1 and files[0]["filename"] == "so8t-report-2026-W47.md" and files[0]["lang"] == "en"
    full = files[0]["content"].decode()
    assert full.startswith("# SO8T audit report 2026-W47") and "| ESCALATE | 5 |" in full and "Appeals: 1" in full


async def test_a_file_that_cannot_be_sent_becomes_a_link_to_the_console(tmp_path: Path) -> None:
    texts, files, errors = await _ask(tmp_path, f"/so8t report --week {WEEK}", fail=RuntimeError("missing_scope"))
    assert files == [] and errors == 1 and len(texts) == 1
    lines = texts[0].splitlines()
    assert lines[:5] == SUMMARY
    assert lines[5].startswith("Full report: http://127.0.0.1:") and "/report?week=2026-W47 (charts)" in lines[5]
    assert "Markdown file: http://127.0.0.1:" in lines[5] and lines[5].endswith("/report.md?week=2026-W47")


async def test_without_a_console_the_link_is_the_cli_command(tmp_path: Path) -> None:
    texts, _, _ = await _ask(tmp_path, f"/so8t report --week {WEEK}", fail=OSError("upload"), console_url=False)
    assert texts[0].splitlines()[-1] == (
        "Full report: run `so8t report --week 2026-W47` on the bot's host (add --format html for the charts)."
    )


async def test_a_week_that_cannot_be_read_is_one_line_and_no_file(tmp_path: Path) -> None:
    texts, files, _ = await _ask(tmp_path, "/so8t report --week 2026-W60")
    assert files == [] and len(texts) == 1 and texts[0].startswith("cannot read week '2026-W60'")


async def test_the_summary_in_japanese(tmp_path: Path) -> None:
    db, _ = await fill(tmp_path)
    store = AuditStore(db)
    rep = build_report(store, *week_range(WEEK, "Asia/Tokyo"), now=tokyo(2026, 11, 24, 10), label=WEEK)
    store.close()
    text = Replies().render("report_summary", "ja", **summary_facts(rep, "Asia/Tokyo", "ja", hazard_label))
    assert text.splitlines() == [
        "SO8T レポート 2026-W47",
        "期間: 2026-11-16 00:00 – 2026-11-23 00:00（Asia/Tokyo）",
        "リクエスト: 8 件（前の期間比 +6） · ALLOW 1 · REFUSE 2 · ESCALATE 5",
        "未対応案件: 2 件（compliance 1、privacy 1）· 最も古いものは 7.0日 経過",
        "上位カテゴリ: compliance 1 · 嫌がらせ・脅迫 1 · hr 1",
    ]
    link = Replies().render("report_link", "ja", page="", download="", cli=report_cli_args(rep))
    assert link == (
        "レポート全文: ボットのホストで `so8t report --week 2026-W47` を実行してください（グラフは --format html）。"
    )


def test_open_ended_periods_link_and_name_the_cli_in_whole_seconds() -> None:
    rep = Report(since=1795000000.25, until=None, counts={}, open_escalations={}, generated_at=1795482000.5)
    assert report_query(rep) == "since=1795000000&until=1795482001"
    assert report_cli_args(rep) == "--since 2026-11-18T11:06:40 --until 2026-11-24T01:00:01"
    assert report_query(Report(None, None, {}, {}, generated_at=10.0)) == "until=11"  # `now` included
    facts = summary_facts(rep, "UTC", "en")
    assert (facts["since"], facts["until"], facts["open_total"], facts["oldest_age"]) == (
        "2026-11-18 11:06",
        "",
        0,
        "",
    )
    assert [age_text(s, "en") for s in (90, 3 * 3600, 3 * 86400)] == ["2 min", "3.0 h", "3.0 d"]
    assert age_text(3 * 3600, "ja") == "3.0時間"
