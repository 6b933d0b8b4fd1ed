"""Signed checkpoints of the audit chain's head, kept outside the store.

A checkpoint is one JSON line: when it was taken, how many rows the chain had and the last row's MAC,
signed with HMAC-SHA256 under SO8T_AUDIT_KEY. Someone who can rewrite the SQLite file can drop the
triggers, delete the last rows or recompute the chain, but cannot write a checkpoint without the key;
`so8t audit verify --checkpoint FILE` then finds fewer rows than checkpointed (truncation), a MAC at a
checkpointed row that differs (recomputation) and lines whose signature is wrong (forgery).
The file is appended to (`so8t audit checkpoint`, every report run, the scheduled `audit` job);
keep a copy where the database's writers cannot reach (another host, WORM storage).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import StoreError
from bot.store import AUDIT_KEY_ENV, AuditStore

CHECKPOINT_ENV = "SO8T_AUDIT_CHECKPOINT"
DEFAULT_CHECKPOINT = "var/audit-checkpoints.jsonl"
FORMAT = 1


class CheckpointError(StoreError):
    """A checkpoint cannot be written or read, or does not hold; str() is one line."""


@dataclass(frozen=True)
class Checkpoint:
    ts: float
    rows: int
    mac: str
    sig: str = ""

    def body(self) -> dict[str, Any]:
        return {"v": FORMAT, "ts": self.ts, "rows": self.rows, "mac": self.mac}

    def line(self) -> str:
        return json.dumps({**self.body(), "sig": self.sig}, sort_keys=True, separators=(",", ":"))


def signature(key: bytes, body: Mapping[str, Any]) -> str:
    payload = json.dumps(dict(body), sort_keys=True, separators=(",", ":"))
    return hmac.new(key, b"so8t-checkpoint:" + payload.encode("utf-8"), hashlib.sha256).hexdigest()


def checkpoint_path(configured: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """$SO8T_AUDIT_CHECKPOINT, then the configured path (audit.checkpoint), then the default."""
    value = (os.environ if env is None else env).get(CHECKPOINT_ENV, "").strip()
    return Path(value or configured or DEFAULT_CHECKPOINT)


def take_checkpoint(store: AuditStore, now: float) -> Checkpoint:
    """Verify the chain, then sign its head; CheckpointError when there is no key or the chain is broken
    (a checkpoint must never vouch for a tampered chain)."""
    if store.audit_key is None:
        raise CheckpointError(f"{AUDIT_KEY_ENV} is not set: a checkpoint without a key could be forged")
    result = store.verify_chain()
    if not result.ok:
        raise CheckpointError(f"no checkpoint: the audit chain is broken at row {result.first_broken}: {result.reason}")
    cp = Checkpoint(ts=now, rows=result.rows, mac=result.head)
    return Checkpoint(cp.ts, cp.rows, cp.mac, signature(store.audit_key, cp.body()))


def append_checkpoint(path: str | Path, cp: Checkpoint) -> None:
    """Append one line and fsync it."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("a", encoding="utf-8") as fh:
            fh.write(cp.line() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise CheckpointError(f"cannot write the checkpoint file {p}: {exc.strerror or exc}") from None


def write_checkpoint(store: AuditStore, path: str | Path, now: float) -> Checkpoint:
    cp = take_checkpoint(store, now)
    append_checkpoint(path, cp)
    return cp


def read_checkpoints(path: str | Path, key: bytes) -> list[Checkpoint]:
    """Every line of the file, each signature checked; CheckpointError names the first bad line."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint file {p}: {exc.strerror or exc}") from None
    out: list[Checkpoint] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            cp = Checkpoint(float(doc["ts"]), int(doc["rows"]), str(doc["mac"]), str(doc["sig"]))
            if doc.get("v") != FORMAT:
                raise ValueError(f"format {doc.get('v')!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{p} line {number}: not a checkpoint ({exc})") from None
        if not hmac.compare_digest(signature(key, cp.body()), cp.sig):
            raise CheckpointError(f"{p} line {number}: bad signature (forged, altered, or another {AUDIT_KEY_ENV})")
        out.append(cp)
    return out


def check_checkpoints(store: AuditStore, checkpoints: list[Checkpoint]) -> str | None:
    """None when the chain still holds every checkpoint; else one line: truncation or recomputation."""
    rows, _ = store.chain_head()
    for cp in checkpoints:
        if rows < cp.rows:
            return (
                f"the chain has {rows} row(s), fewer than the {cp.rows} checkpointed at "
                f"{_when(cp.ts)}: rows were deleted"
            )
        if cp.rows == 0:
            continue
        if store.chain_value(cp.rows) != cp.mac:
            return (
                f"row {cp.rows} no longer has the MAC checkpointed at {_when(cp.ts)}: "
                "the chain was rewritten up to there"
            )
    return None


def _when(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
