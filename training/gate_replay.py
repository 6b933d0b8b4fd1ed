"""Replay the gate offline: the served model's signals per row, stored once, then any hazard head and any
GatePolicy applied to them without the model.

`dump_signals` evaluates each row's original form once (the verdict head's probabilities and the
last-token state the hazard head reads) and writes them to an .npz; `replay` re-applies a hazard head and
a policy and returns the decisions, so thresholds can be chosen on dev rows in seconds. Rows whose request
hides an encoded form (the attack set) need the full runtime: replay reads the original form only.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime.base import Decision, Turn
from runtime.gate import GatePolicy, Signals, gate
from runtime.head import SafetyHead


def _context(row: dict[str, Any]) -> list[Turn]:
    return [Turn(role=t.get("role", "user"), text=str(t.get("text", ""))) for t in row.get("context") or []]


def _thread_text(row: dict[str, Any]) -> str:
    users = [str(t.get("text", "")) for t in row.get("context") or [] if t.get("role", "user") == "user"]
    thread = "\n".join(users[-3:])
    return f"{thread}\n{row['text']}" if thread else str(row["text"])


def dump_signals(rt: Any, rows: Sequence[dict[str, Any]], out: Path, every: int = 200) -> None:
    """For each row: the last-token state of its original form and the verdict head's pv / pc."""
    states, pvs, pcs = [], [], []
    t0 = time.perf_counter()
    for i, row in enumerate(rows, 1):
        tokens = rt.tokens_for(_context(row), str(row["text"]))
        state = rt._evaluate(tokens)[None, :]
        pv, pc = rt.head.predict(state, [str(row["text"])])
        states.append(state[0])
        pvs.append(pv[0])
        pcs.append(pc[0])
        if i % every == 0:
            print(f"  {i}/{len(rows)} ({i / (time.perf_counter() - t0):.1f}/s)", file=sys.stderr, flush=True)
    np.savez_compressed(
        out,
        states=np.stack(states).astype(np.float32),
        pv=np.stack(pvs),
        pc=np.stack(pcs),
        rows=np.array([json.dumps(r, ensure_ascii=False) for r in rows]),
    )


def load_dump(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
    with np.load(path) as z:
        return z["states"], z["pv"], z["pc"], [json.loads(str(r)) for r in z["rows"]]


def replay(
    path: Path, hazard: SafetyHead | None, policy: GatePolicy, verdict: SafetyHead | None = None
) -> list[Decision]:
    """The gate's decision for every dumped row under `hazard` and `policy` (original form only); with
    `verdict`, that verdict head's probabilities instead of the dumped ones."""
    states, pv, pc, rows = load_dump(path)
    if verdict is not None:
        pv, pc = verdict.predict(states, [str(r["text"]) for r in rows])
    ph = phc = None
    if hazard is not None:
        ph, phc = hazard.predict(states, [_thread_text(r) for r in rows])
    out = []
    for i, r in enumerate(rows):
        sig = Signals(
            "original",
            str(r["text"]),
            pv[i],
            pc[i],
            ph=None if ph is None else ph[i],
            phc=None if phc is None else phc[i],
        )
        out.append(gate([sig], str(r.get("lang", "en")), policy))
    return out
