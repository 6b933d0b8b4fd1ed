"""The store's schema as one numbered sequence of migrations, the same on SQLite and PostgreSQL.

SQLite keeps the applied number in PRAGMA user_version, PostgreSQL in the one-row table so8t_schema;
bot/store/base.py applies the missing ones in order, each in its own transaction. Never edit a migration
that has shipped: add the next number. DDL uses the type slots of bot/store/dialect.py.

1 events, decisions (append-only), escalations   4 answers (the answer guard's outcomes)
2 scheduled jobs and model changes               5 the adapters' ledger and the console workspace
3 keyed chain, encrypted originals               6 claims on events (replicas on one PostgreSQL)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store.base import Conn


def _mask(text: str) -> str:
    from bot.pii import mask

    return mask(text).text


def _run(c: Conn, *statements: str) -> None:
    for sql in statements:
        c.execute(c.dialect.ddl(sql))


def _append_only(c: Conn, table: str) -> None:
    """UPDATE and DELETE on `table` abort (SQLite: RAISE(ABORT); PostgreSQL: a plpgsql trigger function)."""
    message = f"{table} is append-only"
    if c.dialect.name == "sqlite":
        for op in ("update", "delete"):
            c.execute(
                f"CREATE TRIGGER {table}_no_{op} BEFORE {op.upper()} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        return
    c.execute(
        f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$"
    )
    for op in ("update", "delete"):
        c.execute(
            f"CREATE TRIGGER {table}_no_{op} BEFORE {op.upper()} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )


def _migration_1(c: Conn) -> None:
    _run(
        c,
        """CREATE TABLE events (seq {pk}, platform {text} NOT NULL, event_id {text} NOT NULL, kind {text} NOT NULL,
            payload {text}, state {text} NOT NULL, received_at {float} NOT NULL, done_at {float})""",
        "CREATE UNIQUE INDEX events_key ON events(platform, event_id)",
        "CREATE INDEX events_state ON events(state)",
        """CREATE TABLE decisions (id {pk}, kind {text} NOT NULL, ts {float} NOT NULL, platform {text},
            channel {text}, thread {text}, "user" {text}, event_id {text}, lang {text}, verdict {text},
            category {text}, confidence {float}, probs {text}, rationale {text}, reason {text},
            latency_ms {float}, model_id {text}, head_id {text}, text_masked {text}, text_sha256 {text},
            escalation_id {int}, prev_hash {text} NOT NULL, hash {text} NOT NULL)""",
        "CREATE INDEX decisions_ts ON decisions(ts)",
        "CREATE INDEX decisions_event ON decisions(platform, event_id)",
    )
    _append_only(c, "decisions")
    _run(
        c,
        """CREATE TABLE escalations (id {pk}, decision_id {int} NOT NULL, kind {text} NOT NULL,
            domain {text} NOT NULL, platform {text}, channel {text}, thread {text}, "user" {text},
            text_masked {text}, request_text {text}, lang {text}, verdict {text}, category {text},
            confidence {float}, rationale {text}, status {text} NOT NULL, opened_at {float} NOT NULL,
            deadline {float} NOT NULL, reminded_at {float}, card_channel {text}, card_ref {text},
            resolved_at {float}, reviewer {text}, action {text}, resolution_text {text},
            resolution_event_id {text})""",
        "CREATE UNIQUE INDEX escalations_key ON escalations(decision_id, kind)",
        "CREATE INDEX escalations_status ON escalations(status)",
    )


def _migration_2(c: Conn) -> None:
    """Scheduled jobs (runs, per-job state, lock rows) and model changes (promotions, rejections, rollbacks)."""
    _run(
        c,
        """CREATE TABLE job_runs (id {pk}, job {text} NOT NULL, scheduled_for {float}, trigger {text} NOT NULL,
            owner {text}, started_at {float} NOT NULL, ended_at {float}, outcome {text} NOT NULL, detail {text})""",
        "CREATE INDEX job_runs_job ON job_runs(job, id)",
        "CREATE TABLE job_state (job {text} NOT NULL PRIMARY KEY, last_scheduled_for {float}, watermark {float})",
        """CREATE TABLE job_locks (job {text} NOT NULL PRIMARY KEY, owner {text} NOT NULL,
            acquired_at {float} NOT NULL, expires_at {float} NOT NULL)""",
        """CREATE TABLE model_changes (id {pk}, ts {float} NOT NULL, action {text} NOT NULL, candidate {text},
            current {text}, reason {text}, metrics {text})""",
    )


def _migration_3(c: Conn) -> None:
    """Keyed chain (chain_v, ref_id on decisions), the encrypted original of an escalation's request,
    and no raw text left behind: what older versions kept in clear becomes its masked form."""
    _run(
        c,
        "ALTER TABLE decisions ADD COLUMN ref_id {int}",
        "ALTER TABLE decisions ADD COLUMN chain_v {int}",
        "ALTER TABLE escalations ADD COLUMN request_enc {text}",
    )
    rows = c.execute("SELECT id, request_text, resolution_text FROM escalations").fetchall()
    for esc_id, request, resolution in rows:
        c.execute(
            "UPDATE escalations SET request_text = ?, resolution_text = ? WHERE id = ?",
            (_mask(request) if request else request, _mask(resolution) if resolution else resolution, esc_id),
        )


def _migration_4(c: Conn) -> None:
    """What happened to each ALLOW answer (the answer guard's outcome, or the response head's stop): counts
    for the weekly report; no text."""
    _run(
        c,
        "CREATE TABLE answers (decision_id {int} NOT NULL PRIMARY KEY, ts {float} NOT NULL, outcome {text} NOT NULL)",
        "CREATE INDEX answers_ts ON answers(ts)",
    )


def _migration_5(c: Conn) -> None:
    """The adapters' ledger (adapters/ledger.py) and the console workspace (adapters/console/workspace.py),
    which until v5 created their tables themselves: IF NOT EXISTS, so a file that already holds them keeps
    them as they are. Console text stored in clear by versions before masking-on-write is masked once."""
    order = "" if c.dialect.name == "sqlite" else "seq BIGINT GENERATED ALWAYS AS IDENTITY, "  # SQLite: rowid
    _run(
        c,
        f"""CREATE TABLE IF NOT EXISTS adapter_posts ({order}
            platform {{text}} NOT NULL, key {{text}} NOT NULL, ref {{text}} NOT NULL, channel {{text}} NOT NULL,
            thread {{text}}, kind {{text}} NOT NULL, buttons {{text}} NOT NULL DEFAULT '[]',
            PRIMARY KEY (platform, key))""",
        "CREATE INDEX IF NOT EXISTS adapter_posts_ref ON adapter_posts(platform, ref)",
        """CREATE TABLE IF NOT EXISTS adapter_threads (
            platform {text} NOT NULL, channel {text} NOT NULL, thread {text} NOT NULL, target {text} NOT NULL,
            PRIMARY KEY (platform, channel, thread))""",
        "CREATE INDEX IF NOT EXISTS adapter_threads_target ON adapter_threads(platform, target)",
        """CREATE TABLE IF NOT EXISTS adapter_aliases (
            platform {text} NOT NULL, name {text} NOT NULL, id {text} NOT NULL, PRIMARY KEY (platform, name))""",
        """CREATE TABLE IF NOT EXISTS console_messages (seq {pk}, id {text} NOT NULL, channel {text} NOT NULL,
            thread {text} NOT NULL, "user" {text} NOT NULL, text {text} NOT NULL, ts {float} NOT NULL,
            actions {text}, key {text}, kind {text})""",
        "CREATE UNIQUE INDEX IF NOT EXISTS console_id ON console_messages(id)",
        "CREATE UNIQUE INDEX IF NOT EXISTS console_key ON console_messages(key)",
        "CREATE INDEX IF NOT EXISTS console_thread ON console_messages(channel, thread, seq)",
        "CREATE TABLE IF NOT EXISTS console_meta (key {text} PRIMARY KEY, value {text})",
    )
    if c.execute("SELECT 1 FROM console_meta WHERE key = 'masked'").fetchone():
        return
    for seq, text in c.execute("SELECT seq, text FROM console_messages").fetchall():
        masked = _mask(text)
        if masked != text:
            c.execute("UPDATE console_messages SET text = ? WHERE seq = ?", (masked, seq))
    c.execute("INSERT INTO console_meta(key, value) VALUES ('masked', '1')")


def _migration_6(c: Conn) -> None:
    """Which replica holds an unfinished event and until when (`so8t serve` replicas on one PostgreSQL share
    the events table: an event whose lease ran out is taken over by another replica)."""
    _run(
        c,
        "ALTER TABLE events ADD COLUMN claimed_by {text}",
        "ALTER TABLE events ADD COLUMN lease_until {float}",
        "CREATE INDEX events_claim ON events(state, lease_until)",
    )


MIGRATIONS: tuple[Callable[[Conn], None], ...] = (
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
)
SCHEMA_VERSION = len(MIGRATIONS)
