"""Masked before stored, everywhere: a scripted console session with PII (fake runtime), then every
table of the SQLite file and every byte of every file the bot wrote is searched for the originals.
Only the encrypted column (escalations.request_enc, Fernet with SO8T_DATA_KEY) may hold them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.store import DataCipher
from tests.support.console_helpers import console_app
from tests.support.ops_helpers import ops_config

PHONE = "090-1234-5678"
CARD = "4111 1111 1111 1111"
MY_NUMBER = "123456789018"
EMAIL = "taro.yamada@example.com"
# each original as typed and as bare digits (a copy that lost its separators is still a leak)
NEEDLES = (PHONE, "09012345678", CARD, "4111111111111111", MY_NUMBER, EMAIL, "taro.yamada")


def _table_values(db: Path) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text-ish cell of every table."""
    conn = sqlite3.connect(str(db))
    out: list[tuple[str, str, str]] = []
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cur = conn.execute(f'SELECT * FROM "{table}"')
            cols = [d[0] for d in cur.description]
            for row in cur:
                out.extend((table, col, str(v)) for col, v in zip(cols, row, strict=True) if v is not None)
    finally:
        conn.close()
    return out


def _leaks(root: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found.extend(f"{path.name}: {n}" for n in NEEDLES if n.encode() in data)
        if path.suffix == ".db":
            for table, col, value in _table_values(path):
                found.extend(f"{table}.{col}: {n}" for n in NEEDLES if n in value)
    return found


async def _session(app: Any, c: Any) -> None:
    allow = await c.say("alice", f"Please update my contact: phone {PHONE}, e-mail {EMAIL}.")
    esc = await c.say(
        "bob", f"My salary was paid to card {CARD} and my manager has my My Number {MY_NUMBER}, is that ok?"
    )
    await c.say("alice", f"And the card is {CARD}", thread=allow["thread"])
    await app.bot.wait_idle()
    assert (await c.bot_replies(allow["thread"]))[0]["text"].startswith("Answer:")
    assert "[PHONE]" in (await c.bot_replies(allow["thread"]))[0]["text"]  # the console shows it masked
    card = next(m for m in await c.messages("hr-review") if m["kind"] == "card")
    status, data = await c.post(
        "/api/actions",
        {"message_id": card["id"], "action": "answer", "user": "reviewer", "text": f"Call HR at {PHONE}."},
    )
    assert status == 200, data
    await app.bot.wait_idle()
    replies = await c.bot_replies(esc["thread"])
    assert len(replies) == 2 and "[PHONE]" in replies[1]["text"]
    # a second case stays open: its original is held, encrypted, for the reviewer
    await c.say("carol", f"My manager keeps calling my private number {PHONE}")
    await app.bot.wait_idle()
    assert app.scheduler is not None
    for job in ("report", "feedback", "audit"):
        rec = await app.scheduler.run_now(job)
        assert rec is not None and rec.outcome == "ok", (job, rec)
    assert app.store.verify_chain().ok


@pytest.mark.parametrize("with_keys", [True, False], ids=["keys", "no-keys"])
async def test_no_raw_pii_in_any_table_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_keys: bool
) -> None:
    from cryptography.fernet import Fernet

    data_key = Fernet.generate_key().decode()
    if with_keys:
        monkeypatch.setenv("SO8T_AUDIT_KEY", "a" * 40)
        monkeypatch.setenv("SO8T_DATA_KEY", data_key)
    monkeypatch.setenv("SO8T_AUDIT_CHECKPOINT", str(tmp_path / "var" / "checkpoints.jsonl"))
    async with console_app(tmp_path, ops_config(tmp_path)) as (app, c):
        await _session(app, c)
        open_case = [e for e in app.store.open_escalations()][-1]
        held = app.store.escalation_request(open_case.id)
        if with_keys:
            assert held is not None and PHONE in held  # the reviewer can see the original
        else:
            assert held is not None and PHONE not in held and "[PHONE]" in held
    files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert "so8t.db" in files and any(f.startswith("reports/") for f in files)
    assert ("var/checkpoints.jsonl" in files) == with_keys
    assert _leaks(tmp_path) == []
    # the one place an original may be: encrypted, and it decrypts to the message
    tokens = [v for t, col, v in _table_values(tmp_path / "so8t.db") if col == "request_enc"]
    if with_keys:
        assert len(tokens) == 1 and PHONE in (DataCipher(data_key).decrypt(tokens[0]) or "")
    else:
        assert tokens == []
