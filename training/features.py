"""Frozen backbone hidden states for the head, cached on disk by text hash (one file per backbone)."""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)
CACHE_DIR = Path(__file__).resolve().parent / "cache"


class StateSource(Protocol):
    fingerprint: str
    n_embd: int

    def hidden_state(self, context: Sequence, request: str) -> np.ndarray: ...  # type: ignore[type-arg]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:20]


class StateCache:
    """sha -> state vector, persisted as one .npz per backbone fingerprint; saved every `every` new rows."""

    def __init__(self, fingerprint: str, n_embd: int, cache_dir: Path = CACHE_DIR) -> None:
        self.path = cache_dir / f"states-{fingerprint}.npz"
        self.n_embd = n_embd
        self.data: dict[str, np.ndarray] = {}
        if self.path.is_file():
            try:
                with np.load(self.path, allow_pickle=False) as z:
                    keys, mat = z["keys"], z["states"]
                if mat.shape[1] == n_embd:
                    self.data = {str(k): mat[i] for i, k in enumerate(keys)}
            except Exception:  # noqa: BLE001 - a broken cache is rebuilt, not fatal
                log.warning("state cache %s unreadable; rebuilding", self.path)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self.data.keys()))
        mat = np.stack(list(self.data.values())) if self.data else np.zeros((0, self.n_embd), np.float32)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, states=mat.astype(np.float32))
        tmp.replace(self.path)


def hidden_states(
    source: StateSource, texts: list[str], cache_dir: Path = CACHE_DIR, every: int = 500, progress: bool = True
) -> np.ndarray:
    """States for `texts` (computing only what the cache lacks)."""
    cache = StateCache(str(getattr(source, "state_key", source.fingerprint)), source.n_embd, cache_dir)
    todo = [t for t in dict.fromkeys(texts) if text_key(t) not in cache.data]
    t0 = time.perf_counter()
    for i, text in enumerate(todo, 1):
        cache.data[text_key(text)] = source.hidden_state((), text)
        if i % every == 0 or i == len(todo):
            cache.save()
            if progress:
                rate = i / (time.perf_counter() - t0)
                print(
                    f"  states {i}/{len(todo)} ({rate:.1f}/s, eta {(len(todo) - i) / rate:.0f}s)",
                    file=sys.stderr,
                    flush=True,
                )
    return np.stack([cache.data[text_key(t)] for t in texts]) if texts else np.zeros((0, source.n_embd), np.float32)
