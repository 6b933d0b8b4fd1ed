"""`/so8t report` on Discord (issue 20) against the loopback FakeDiscord: a short summary with the full
report attached (multipart), ephemeral for the slash command, in the thread for a mention; a refused
attachment becomes the link or command instead."""

from __future__ import annotations

from pathlib import Path

from tests.adapters.discord.harness import ADMIN, command, discord_harness


async def test_slash_report_is_a_summary_with_the_report_attached(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        await h.say("hello")
        await h.idle()
        h.discord.feed("INTERACTION_CREATE", command("report", ADMIN, [{"name": "since", "type": 3, "value": "7d"}]))
        await h.fake.wait_for(lambda: h.fake.followups)
        await h.idle()
        answer = h.fake.followups[-1]
        assert answer["flags"] == 64  # ephemeral
        lines = answer["content"].splitlines()
        assert lines[0] == "SO8T report" and lines[2].startswith("Requests: 1 (+1 vs the previous period) · ALLOW 1")
        assert len(lines) == 5 and "| ALLOW |" not in answer["content"]  # no wall of Markdown
        [(name, content)] = answer["files"]
        assert name.startswith("so8t-report-") and name.endswith(".md")
        assert content.decode().startswith("# SO8T audit report") and b"| ALLOW | 1 |" in content


async def test_mention_report_attaches_the_file_in_the_thread(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        d = await h.say("/so8t report --since 7d", author=ADMIN)
        await h.idle()
        [sent] = h.sent(d["id"])  # the thread started from the command's message
        assert sent["content"].startswith("SO8T report\nPeriod: ") and "Open cases: none" in sent["content"]
        [(name, content)] = sent["files"]
        assert name.startswith("so8t-report-") and content.decode().startswith("# SO8T audit report")


async def test_a_refused_attachment_answers_with_the_command_instead(tmp_path: Path) -> None:
    async with discord_harness(tmp_path) as h:
        h.fake.fail_next("create_message", 403, {}, {"message": "Missing Permissions", "code": 50013})
        d = await h.say("/so8t report --since 7d", author=ADMIN)
        await h.idle()
        refused = [c for c in h.fake.calls if c.method == "create_message" and c.status == 403]
        assert len(refused) == 1
        [sent] = h.sent(d["id"])
        assert sent["files"] == [] and sent["content"].startswith("SO8T report\n")
        assert "Full report: run `so8t report --since " in sent["content"]  # no console served here
        assert h.app.bot.metrics.errors.values[("report_file",)] == 1
