"""The console's JSON API contract and bad input, over real HTTP on 127.0.0.1:0 with a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.console_helpers import console_app


async def test_contract_post_list_thread_and_bot_reply(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        posted = await c.say("alice", "How do I book a meeting room?")
        assert set(posted) >= {"id", "thread"} and posted["thread"] == posted["id"]
        await app.bot.wait_idle()
        msgs = await c.messages("general")
        assert [m["user"] for m in msgs] == ["alice", "so8t"]
        for m in msgs:
            assert set(m) >= {"id", "channel", "thread", "user", "text", "ts", "actions"}
            assert m["thread"] == posted["id"] and m["channel"] == "general"
        assert msgs[1]["text"].startswith("Answer: How do I book")
        # a reply in the thread goes to the same thread, and the thread query returns only it
        second = await c.say("alice", "And for ten people?", thread=posted["id"])
        assert second["thread"] == posted["id"]
        await c.say("bob", "another topic")
        await app.bot.wait_idle()
        assert len(await c.messages("general", posted["id"])) == 4


async def test_channels_list_has_general_and_review_channels(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (_, c):
        status, data = await c.get("/api/channels")
        assert status == 200
        assert data["channels"][0] == "general"
        assert {"legal-review", "medical-review", "hr-review", "privacy-review", "compliance-review"} <= set(
            data["channels"]
        )


async def test_replayed_event_id_is_answered_once(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        first = await c.say("alice", "hello there", event_id="evt-1")
        second = await c.say("alice", "hello there", event_id="evt-1")
        assert first["id"] == second["id"] and second["status"] == "duplicate"
        await app.bot.wait_idle()
        assert len(await c.bot_replies(first["thread"])) == 1
        assert len(await c.messages()) == 2


async def test_bad_input_gets_one_clear_line(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        cases = [
            ({"channel": "general", "user": "alice", "text": ""}, 400, "text is empty"),
            ({"channel": "general", "user": "alice", "text": "  \n\t "}, 400, "text is empty"),
            ({"channel": "general", "user": "alice", "text": "\x00\x01\x07"}, 400, "text is empty"),
            ({"channel": "general", "user": "alice", "text": "x" * 100_000}, 413, "too long"),
            ({"channel": "nope", "user": "alice", "text": "hi"}, 404, "unknown channel"),
            ({"channel": "general", "user": "", "text": "hi"}, 400, "field 'user'"),
            ({"channel": "general", "user": "so8t", "text": "hi"}, 400, "bot's own name"),
            ({"channel": "general", "user": "<b>x</b>", "text": "hi"}, 400, "field 'user'"),
            ({"channel": "general", "user": "alice", "text": 5}, 400, "must be a string"),
            (
                {"channel": "general", "user": "alice", "text": "hi", "thread": "missing"},
                404,
                "unknown thread",
            ),
            ({"user": "alice", "text": "hi"}, 400, "missing field 'channel'"),
        ]
        for body, status, needle in cases:
            got, data = await c.post("/api/messages", body)
            assert got == status, (body, data)
            assert needle in data["error"] and "\n" not in data["error"] and "Traceback" not in data["error"]
        got, data = await c.post("/api/messages", raw=b'{"channel": "general", "text": "\xff\xfe"}')
        assert got == 400 and data["error"] == "request body is not valid UTF-8"
        got, data = await c.post("/api/messages", raw=b"{not json")
        assert got == 400 and data["error"] == "request body is not valid JSON"
        got, data = await c.post("/api/messages", raw=b"[1, 2]")
        assert got == 400 and data["error"] == "request body must be a JSON object"
        for deep in (b"[" * 100_000, b'{"a":' * 20_000 + b"1" + b"}" * 20_000):  # was a 500 (RecursionError)
            got, data = await c.post("/api/messages", raw=deep)
            assert got == 400 and "nested deeper than 16 levels" in data["error"]
            got, data = await c.post("/api/actions", raw=deep)
            assert got == 400 and "nested deeper" in data["error"]
        got, data = await c.get("/api/messages", channel="nope")
        assert got == 404
        await app.bot.wait_idle()
        assert await c.messages() == []  # nothing was stored for rejected requests


async def test_control_characters_are_stripped_and_html_kept_as_text(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        evil = "<script>alert('x')</script><img src=x onerror=alert(1)>"
        posted = await c.say("alice", f"hi\x00\x1b[31m {evil}\r\nline2")
        await app.bot.wait_idle()
        msgs = await c.messages()
        assert msgs[0]["text"] == f"hi[31m {evil}\nline2"  # stored as text; the page renders with textContent
        assert posted["thread"] == msgs[0]["id"]
        status, page = await c.get("/")
        assert status == 200 and "Content-Security-Policy" in page
        status, js = await c.get("/static/app.js")
        assert status == 200 and "innerHTML" not in js.replace("never innerHTML", "")


async def test_actions_bad_input(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        posted = await c.say("alice", "hello")
        await app.bot.wait_idle()
        reply = (await c.bot_replies(posted["thread"]))[0]
        cases = [
            ({"message_id": reply["id"], "action": "explode", "user": "admin"}, 400, "unknown action"),
            ({"message_id": "nope", "action": "approve", "user": "admin"}, 404, "unknown message"),
            (
                {"message_id": reply["id"], "action": "approve", "user": "admin"},
                409,
                "has no 'approve' button",
            ),
            ({"message_id": reply["id"], "action": "approve"}, 400, "missing field 'user'"),
        ]
        for body, status, needle in cases:
            got, data = await c.post("/api/actions", body)
            assert got == status, (body, data)
            assert needle in data["error"]


async def test_slash_commands_in_the_console(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        await c.say("alice", "hello")
        await app.bot.wait_idle()
        help_ = await c.say("alice", "/so8t help")
        status_ = await c.say("alice", "/so8t status")
        report_denied = await c.say("alice", "/so8t report")
        report = await c.say("admin", "/so8t report --since 7d")
        unknown = await c.say("alice", "/so8t frobnicate now")
        await app.bot.wait_idle()

        async def text(thread: str) -> str:
            replies = await c.bot_replies(thread)
            assert len(replies) == 1
            return str(replies[0]["text"])

        assert "/so8t resolve" in await text(help_["thread"])
        assert "Model: fake-model" in await text(status_["thread"])
        assert "Only admins" in await text(report_denied["thread"])
        rep = await text(report["thread"])
        assert rep.startswith("SO8T report\n") and "· ALLOW 1 ·" in rep and "| ALLOW |" not in rep
        assert "/report?since=" in rep and "/report.md?since=" in rep  # the full report, on this server
        assert "unknown command 'frobnicate'" in await text(unknown["thread"])
        assert app.runtime.calls == [("decide", "hello"), ("answer", "hello")]  # type: ignore[attr-defined]


async def test_healthz_and_metrics(tmp_path: Path) -> None:
    async with console_app(tmp_path) as (app, c):
        await c.say("alice", "hello")
        await c.say("alice", "I need a diagnosis for my headache")
        await app.bot.wait_idle()
        status, health = await c.get("/healthz")
        assert status == 200 and health["ok"] and health["model"] and health["store"]
        assert health["adapters"] == {"console": True}
        status, text = await c.get("/metrics")
        assert status == 200
        assert 'so8t_decisions_total{verdict="ALLOW",category="none"} 1' in text
        assert 'so8t_decisions_total{verdict="ESCALATE",category="medical"} 1' in text
        assert 'so8t_escalations_open{domain="medical"} 1' in text
        assert "so8t_queue_depth 0" in text
        assert "so8t_decide_seconds_count 2" in text
        assert "# TYPE so8t_handle_seconds histogram" in text


async def test_healthz_reports_a_locked_store(tmp_path: Path) -> None:
    import sqlite3

    async with console_app(tmp_path) as (app, c):
        other = sqlite3.connect(str(tmp_path / "so8t.db"), isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            status, health = await c.get("/healthz")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert status == 503 and health["store"] is False and "locked" in health["store_error"]
        status, health = await c.get("/healthz")
        assert status == 200


async def test_api_answers_before_the_model(tmp_path: Path) -> None:
    """The HTTP answer returns while the model is still blocked: the loop never waits for it."""
    import threading

    from tests.support.fakes import FakeRuntime

    gate = threading.Event()
    rt = FakeRuntime(gate=gate)
    async with console_app(tmp_path, runtime=rt) as (app, c):
        posted = [await c.say(f"u{i}", f"question {i}") for i in range(3)]
        assert await c.bot_replies(posted[0]["thread"]) == []
        status, health = await c.get("/healthz")
        assert status == 200
        gate.set()
        await app.bot.wait_idle()
        for p in posted:
            assert len(await c.bot_replies(p["thread"])) == 1
        assert json.dumps(rt.violations) == "[]"
