"""The store's connection: one SQLite file (WAL) or one PostgreSQL database, migrated to SCHEMA_VERSION
on open, with one-transaction writes and dict-row reads; every driver failure becomes a one-line StoreError.

`Database` is shared by the audit store (bot/store/__init__.py) and by the adapters' ledger and the
console workspace, which open their own connection to the same database.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bot.errors import StoreError
from bot.store.dialect import (
    MIGRATE_LOCK_KEY,
    POSTGRES,
    SQLITE,
    Dialect,
    connect_postgres,
    connect_sqlite,
    db_errors,
    is_postgres_url,
    kb_path,
    one_line,
    redact_url,
)
from bot.store.keys import FROM_ENV, DataCipher, _FromEnv, audit_key_from_env, data_cipher_from_env
from bot.store.migrations import MIGRATIONS, SCHEMA_VERSION

T = TypeVar("T")
DEFAULT_LEASE_S = 30.0  # an unfinished event's claim, renewed by its live replica every third of it
Params = Sequence[Any] | dict[str, Any]


class Cursor(Protocol):
    """What both drivers' cursors give back."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    @property
    def description(self) -> Any: ...


class Conn:
    """A driver connection that takes the store's SQL (SQLite spelling) on either engine."""

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        if not params and self.dialect is POSTGRES:
            cur: Cursor = self.raw.execute(sql)  # no parameters: psycopg reads the text as it is
        else:
            cur = self.raw.execute(self.dialect.sql(sql), params)
        return cur

    def in_transaction(self) -> bool:
        if self.dialect is SQLITE:
            return bool(self.raw.in_transaction)
        import psycopg

        return bool(self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)


def rows_as_dicts(cur: Cursor) -> list[dict[str, Any]]:
    if cur.description is None:
        return []
    names = [d[0] for d in cur.description]
    return [dict(zip(names, values, strict=True)) for values in cur.fetchall()]


class Database:
    """One connection (thread-safe behind one lock) to `target`: a SQLite path or a postgresql:// URL."""

    def __init__(self, target: str | Path, what: str = "audit database", role: str = "audit store") -> None:
        """`what` names the database in open errors, `role` in read and write errors."""
        self.what = what
        self.role = role
        self.errors = db_errors()
        self._lock = threading.RLock()
        self.last_write_error: str | None = None
        if is_postgres_url(target):
            self.dialect = POSTGRES
            self.url = str(target)
            self.label = redact_url(self.url)
            self.path: Path | None = None
            raw = connect_postgres(self.url)
        else:
            self.dialect = SQLITE
            self.path = Path(target)
            self.url = str(self.path)
            self.label = str(self.path)
            try:
                raw = connect_sqlite(self.path)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"cannot open the {what} {self.label}: {one_line(exc)}") from None
        self.raw = raw
        self.conn = Conn(raw, self.dialect)
        try:
            if self.dialect is SQLITE:
                mode = raw.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"the {what} {self.label} cannot use WAL mode (got {mode})")
                raw.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across process crashes
                raw.execute("PRAGMA secure_delete = ON")  # text set to NULL (raw payloads) is zeroed, not left behind
            self._migrate()
        except self.errors as exc:
            raw.close()
            msg = one_line(exc)
            if "not a database" in msg or "malformed" in msg:
                raise StoreError(
                    f"the {what} {self.label} is corrupt ({msg}); move it aside or restore a backup"
                ) from None
            raise StoreError(f"cannot use the {what} {self.label}: {msg}") from None
        except BaseException:
            raw.close()
            raise

    @property
    def is_postgres(self) -> bool:
        return self.dialect is POSTGRES

    # ------------------------------------------------------------------ schema
    def _version(self) -> int:
        if self.dialect is SQLITE:
            return int(self.raw.execute("PRAGMA user_version").fetchone()[0])
        row = self.raw.execute("SELECT version FROM so8t_schema").fetchone()
        return int(row[0]) if row else 0

    def _set_version(self, number: int) -> None:
        if self.dialect is SQLITE:
            self.raw.execute(f"PRAGMA user_version = {int(number)}")
        else:
            self.raw.execute("UPDATE so8t_schema SET version = %s", (number,))

    def _migrate(self) -> None:
        """Apply the missing migrations, each in its own transaction; the version is read inside the
        transaction that holds the write lock, so two processes opening one database never run one twice."""
        while True:
            self.raw.execute(self.dialect.begin_write)
            try:
                if self.dialect is POSTGRES:
                    self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK_KEY,))
                    self.raw.execute("CREATE TABLE IF NOT EXISTS so8t_schema (version INTEGER NOT NULL)")
                    if self.raw.execute("SELECT count(*) FROM so8t_schema").fetchone()[0] == 0:
                        self.raw.execute("INSERT INTO so8t_schema(version) VALUES (0)")
                version = self._version()
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"the {self.what} {self.label} has schema v{version}, newer than this so8t "
                        f"(v{SCHEMA_VERSION})"
                    )
                if version == SCHEMA_VERSION:
                    self.raw.execute("COMMIT")
                    return
                MIGRATIONS[version](self.conn)
                self._set_version(version + 1)
                self.raw.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction():
                    self.raw.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        with self._lock:
            return self._version()

    def table_names(self) -> set[str]:
        if self.dialect is SQLITE:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
        return {str(r["name"]) for r in self.read(sql)}

    # ------------------------------------------------------------------ transactions
    def _reconnect_if_lost(self) -> None:
        """PostgreSQL: a connection the server ended (restart, failover, idle kill) failed the call that
        found it; the next call connects again (a failed transaction was rolled back by the server)."""
        if self.dialect is POSTGRES and (self.raw.closed or self.raw.broken):
            self.raw = connect_postgres(self.url)
            self.conn = Conn(self.raw, self.dialect)

    def write(self, fn: Callable[[Conn], T]) -> T:
        """Run fn in one write transaction (SQLite: IMMEDIATE); driver errors become StoreError."""
        with self._lock:
            self._reconnect_if_lost()
            try:
                self.raw.execute(self.dialect.begin_write)
                try:
                    result = fn(self.conn)
                    self.raw.execute("COMMIT")
                except BaseException:
                    if not getattr(self.raw, "closed", False) and self.conn.in_transaction():
                        self.raw.execute("ROLLBACK")
                    raise
            except self.errors as exc:
                self.last_write_error = one_line(exc)
                raise StoreError(f"{self.role} write failed ({self.label}): {one_line(exc)}") from None
            self.last_write_error = None
            return result

    def read(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        with self._lock:
            self._reconnect_if_lost()
            try:
                return rows_as_dicts(self.conn.execute(sql, params))
            except self.errors as exc:
                raise StoreError(f"{self.role} read failed ({self.label}): {one_line(exc)}") from None

    def execute(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """One statement in its own transaction (autocommit); the rows it returns, as tuples."""
        with self._lock:
            self._reconnect_if_lost()
            try:
                cur = self.conn.execute(sql, params)
                return [tuple(r) for r in cur.fetchall()] if cur.description is not None else []
            except self.errors as exc:
                raise StoreError(f"{self.role} failed ({self.label}): {one_line(exc)}") from None

    def check_writable(self) -> str | None:
        """None when a write lock can be taken now; else one line why not."""
        with self._lock:
            if self.dialect is POSTGRES:
                try:
                    self.raw.execute("SELECT 1")
                except self.errors as exc:
                    return one_line(exc)
                return self.last_write_error
            try:
                self.raw.execute("PRAGMA busy_timeout = 200")
                self.raw.execute("BEGIN IMMEDIATE")
                self.raw.execute("ROLLBACK")
            except sqlite3.Error as exc:
                if self.raw.in_transaction:
                    self.raw.execute("ROLLBACK")
                return one_line(exc)
            finally:
                self.raw.execute("PRAGMA busy_timeout = 5000")
        return self.last_write_error

    def close(self) -> None:
        with self._lock:
            self.raw.close()


def mask_text(text: str) -> str:
    from bot.pii import mask

    return mask(text).text


def sha_text(text: str) -> str:
    from bot.pii import sha256_text

    return sha256_text(text)


def ts_range(since: float | None, until: float | None) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)
    if until is not None:
        clauses.append("ts < ?")
        params.append(until)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)



class StoreBase:
    """What every table group of the audit store builds on: the database and the two keys."""

    def __init__(
        self,
        target: str | Path,
        audit_key: bytes | None | _FromEnv = FROM_ENV,
        data_key: DataCipher | None | _FromEnv = FROM_ENV,
        *,
        owner: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`target` is a SQLite path or a postgresql:// URL. `audit_key` (SO8T_AUDIT_KEY) keys the chain;
        `data_key` (SO8T_DATA_KEY) encrypts the originals reviewers may need. Both default to the
        environment and never enter the database. `owner` names this replica in the events it claims
        (default: host, pid and a random part), `lease_s` is how long a claim holds without renewal and
        `clock` the wall clock leases are measured on."""
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_s = float(lease_s)
        self.clock = clock
        self.audit_key: bytes | None = audit_key_from_env() if isinstance(audit_key, _FromEnv) else audit_key
        self.cipher: DataCipher | None = data_cipher_from_env() if isinstance(data_key, _FromEnv) else data_key
        self.database = Database(target)
        self.dialect = self.database.dialect
        # a SQLite file: the store itself, or beside a PostgreSQL store the local document index (kb/)
        self.path = self.database.path if self.database.path is not None else kb_path(self.database.url)
        self.url = self.database.url

    @property
    def conn(self) -> Any:
        """The driver's own connection (tests; SQLite maintenance)."""
        return self.database.raw

    @property
    def is_postgres(self) -> bool:
        return self.database.is_postgres

    @property
    def last_write_error(self) -> str | None:
        return self.database.last_write_error

    def _write(self, fn: Callable[[Conn], T]) -> T:
        return self.database.write(fn)

    def _read(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        return self.database.read(sql, params)

    def sql(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """One statement outside the store's API (tests, maintenance), in the store's SQL spelling."""
        return self.database.execute(sql, params)

    def schema_version(self) -> int:
        return self.database.schema_version()

    def table_names(self) -> set[str]:
        return self.database.table_names()

    def check_writable(self) -> str | None:
        return self.database.check_writable()

    def close(self) -> None:
        self.database.close()
