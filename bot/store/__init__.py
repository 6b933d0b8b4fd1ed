"""The store: one SQLite file (WAL, the embedded default) or one PostgreSQL database (postgresql:// URL),
split by table group; `AuditStore` is the one facade the bot, the jobs and the CLI use.

- bot/store/dialect.py    where SQLite and PostgreSQL differ (placeholders, types, locks)
- bot/store/migrations.py the numbered schema, the ledger's and the console's tables included
- bot/store/base.py       the connection, transactions, migrating on open
- bot/store/events.py     the events ledger (delivery exactly once)
- bot/store/chain.py      the hash-chained audit (decisions, responses, escalation lifecycle)
- bot/store/escalations.py the human-review cases
- bot/store/reports.py    answers' outcomes and the report's counts
- bot/store/jobs.py       scheduled jobs, their locks, model changes
- bot/store/keys.py       SO8T_AUDIT_KEY and SO8T_DATA_KEY
"""

from __future__ import annotations

from bot.errors import StoreError
from bot.store.base import Conn, Database, StoreBase
from bot.store.chain import (
    CHAIN_FIELDS,
    CHAIN_V1,
    CHAIN_V2,
    CHAIN_V2_FIELDS,
    GENESIS,
    STORED_FIELDS,
    ChainStore,
    DecisionRecord,
    KeyMissing,
    VerifyResult,
    row_hash,
)
from bot.store.dialect import describe_target, is_postgres_url, kb_path, redact_url, target_exists
from bot.store.escalations import EscalationStore
from bot.store.events import EventStore
from bot.store.jobs import JobStore
from bot.store.keys import (
    AUDIT_KEY_ENV,
    DATA_KEY_ENV,
    FROM_ENV,
    MIN_AUDIT_KEY_CHARS,
    DataCipher,
    audit_key_from_env,
    data_cipher_from_env,
)
from bot.store.migrations import MIGRATIONS, SCHEMA_VERSION
from bot.store.reports import ReportQueries


class AuditStore(EventStore, EscalationStore, ReportQueries, JobStore):
    """Thread-safe (one lock) access to the store; every failure becomes a one-line StoreError."""


__all__ = [
    "AUDIT_KEY_ENV",
    "CHAIN_FIELDS",
    "CHAIN_V1",
    "CHAIN_V2",
    "CHAIN_V2_FIELDS",
    "DATA_KEY_ENV",
    "FROM_ENV",
    "GENESIS",
    "MIGRATIONS",
    "MIN_AUDIT_KEY_CHARS",
    "SCHEMA_VERSION",
    "STORED_FIELDS",
    "AuditStore",
    "ChainStore",
    "Conn",
    "DataCipher",
    "Database",
    "DecisionRecord",
    "KeyMissing",
    "StoreBase",
    "StoreError",
    "VerifyResult",
    "audit_key_from_env",
    "data_cipher_from_env",
    "describe_target",
    "is_postgres_url",
    "kb_path",
    "redact_url",
    "row_hash",
    "target_exists",
]
