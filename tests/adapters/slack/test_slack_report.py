"""`/so8t report` on Slack (issue 20) against the loopback FakeSlack: a short summary, the full report
uploaded by files.upload v2 (getUploadURLExternal, the upload, completeUploadExternal), to the admin's
DM for the ephemeral slash command, in the thread for a mention; a refused upload becomes a link."""

from __future__ import annotations

from pathlib import Path

from adapters.slack.translate import PLATFORM
from tests.adapters.slack.harness import slack_harness


async def test_slash_report_summary_ephemeral_and_the_file_in_the_dm(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        await h.mention("hello", ts="1700000000.002000")
        await h.idle()
        await h.slash("report --since 7d", "UADMIN", "trigREP")
        await h.idle()
        answer = h.fake.responses[-1]
        assert answer["response_type"] == "ephemeral"
        lines = answer["text"].splitlines()
        assert lines[0] == "SO8T report" and lines[2].startswith("Requests: 1 (+1 vs the previous period) · ALLOW 1")
        assert lines[-1].startswith("The full report (so8t-report-") and "direct messages" in lines[-1]
        assert "| ALLOW |" not in answer["text"] and len(lines) == 6  # no wall of Markdown
        assert len(h.fake.called("files.getUploadURLExternal")) == 1
        done = h.fake.called("files.completeUploadExternal")
        assert len(done) == 1 and done[0]["channel_id"] == "DUADMIN"
        assert done[0]["initial_comment"].startswith("SO8T report\nPeriod: ")
        full = h.fake.uploads[0].decode()
        assert full.startswith("# SO8T audit report") and "| ALLOW | 1 |" in full
        # the same reply again (a restart finishing the command) uploads nothing more
        posted = h.slack.ledger.by_ref(PLATFORM, "ephemeral:trigREP")
        assert posted is not None and posted.kind == "command"
        again = await h.slack.reply_file("CGEN", "slash:UADMIN:report:trigREP", "x", "f.md", b"x", posted.key)
        assert again == "ephemeral:trigREP" and len(h.fake.called("files.completeUploadExternal")) == 1


async def test_mention_report_shares_the_file_in_the_thread(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        ask = "1700000000.002100"
        await h.mention("/so8t report --since 7d", ts=ask, user="UADMIN")
        await h.idle()
        done = h.fake.called("files.completeUploadExternal")
        assert len(done) == 1 and done[0]["channel_id"] == "CGEN" and done[0]["thread_ts"] == ask
        assert done[0]["initial_comment"].startswith("SO8T report\nPeriod: ")
        assert "Open cases: none" in done[0]["initial_comment"]
        assert h.fake.uploads[0].decode().startswith("# SO8T audit report")
        assert h.fake.bot_messages("CGEN") == []  # the summary is the file's comment, not a message of its own


async def test_a_refused_upload_answers_with_the_command_for_the_full_report(tmp_path: Path) -> None:
    async with slack_harness(tmp_path) as h:
        h.fake.fail_next(
            "files.getUploadURLExternal", 200, {}, {"ok": False, "error": "missing_scope", "needed": "files:write"}
        )
        await h.slash("report --since 7d", "UADMIN", "trigNOFILE")
        await h.idle()
        assert h.fake.called("files.completeUploadExternal") == []
        text = h.fake.responses[-1]["text"]
        assert text.startswith("SO8T report\n") and "direct messages" not in text
        assert "Full report: run `so8t report --since " in text  # no console served here: the CLI
        assert h.app.bot.metrics.errors.values[("report_file",)] == 1
