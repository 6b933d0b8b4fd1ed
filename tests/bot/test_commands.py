"""`/so8t` command parsing (shared by every platform)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import commands as c

NOW = datetime(2024, 5, 10, tzinfo=UTC).timestamp()


def test_parse_commands() -> None:
    assert c.parse("/so8t", NOW) == c.Help()
    assert c.parse("/so8t help", NOW) == c.Help()
    assert c.parse("  /so8t STATUS ", NOW) == c.Status()
    assert c.parse("/so8t report", NOW) == c.Report(None, None)
    rep = c.parse("/so8t report --since 7d --until 2024-05-09", NOW)
    assert rep == c.Report(NOW - 7 * 86400, datetime(2024, 5, 9, tzinfo=UTC).timestamp())
    assert c.parse("/so8t resolve 12 approve", NOW) == c.Resolve(12, "approve", "")
    assert c.parse("/so8t resolve #3 decline  not our policy, sorry", NOW) == c.Resolve(
        3, "decline", "not our policy, sorry"
    )
    assert c.parse('/so8t resolve 3 answer it\'s "fine" — 大丈夫です', NOW) == c.Resolve(
        3, "answer", 'it\'s "fine" — 大丈夫です'
    )
    assert c.parse("/so8t appeal", NOW) == c.Appeal(None)
    assert c.parse("/so8t appeal 7", NOW) == c.Appeal(7)


def test_bad_commands_are_one_line() -> None:
    for text, needle in [
        ("/so8t frobnicate", "unknown command 'frobnicate'"),
        ("/so8t resolve", "usage: /so8t resolve"),
        ("/so8t resolve x approve", "must be a number"),
        ("/so8t resolve 1 maybe", "unknown action 'maybe'"),
        ("/so8t resolve 1 answer", "an answer needs text"),
        ("/so8t report --since yesterday", "cannot read time 'yesterday'"),
        ("/so8t report --verbose", "unknown report option '--verbose'"),
        ("/so8t appeal abc", "must be a number"),
        ("/so8t 'unterminated", "unknown command"),
    ]:
        got = c.parse(text, NOW)
        assert isinstance(got, c.CommandError), text
        assert needle in got.message and "\n" not in got.message


def test_is_command() -> None:
    assert c.is_command("/so8t help") and c.is_command(" /so8t") and c.is_command("!so8t status")
    assert not c.is_command("/so8tx") and not c.is_command("please /so8t help") and not c.is_command("")
