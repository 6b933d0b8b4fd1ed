"""SafetyHeadB: a small numpy classifier over the backbone's last hidden state (+ hashed n-grams).

Inputs: the final-norm hidden state of the prompt's last token (read from the same forward pass that
the answer continues from) and a hashed bag of character n-grams of the request (cheap lexical
evidence that a 135M backbone's state alone misses, especially in Japanese).
Outputs: verdict probabilities (ALLOW/REFUSE/ESCALATE) and category probabilities, each calibrated
by a temperature fitted on the dev split.
"""

from __future__ import annotations

import json
import unicodedata
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime.base import CATEGORIES, LABELS
from runtime.errors import HeadError

HEAD_FORMAT = 1
NGRAM_DIM = 1 << 16


def normalize_text(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def ngram_ids(text: str, dim: int = NGRAM_DIM, max_chars: int = 2000) -> np.ndarray:
    """Hashed ids of character 2-4-grams and latin words (deterministic across runs: crc32)."""
    t = normalize_text(text)[:max_chars]
    grams: set[str] = set()
    padded = f" {t} "
    for n in (2, 3, 4):
        for i in range(len(padded) - n + 1):
            grams.add(padded[i : i + n])
    for word in t.split():
        if word.isascii():
            grams.add("w:" + word.strip(".,!?:;()[]\"'`"))
    ids = {zlib.crc32(g.encode("utf-8")) % dim for g in grams}
    return np.fromiter(sorted(ids), dtype=np.int64, count=len(ids))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class HeadParams:
    """Weights of the head; also what training/head_fit.py optimizes."""

    mean: np.ndarray  # (d,)
    std: np.ndarray  # (d,)
    w1: np.ndarray  # (d, hidden)
    b1: np.ndarray  # (hidden,)
    w2: np.ndarray  # (hidden, 3 + n_cat)
    b2: np.ndarray  # (3 + n_cat,)
    wn: np.ndarray  # (ngram_dim, 3 + n_cat); zeros when n-grams are off
    use_hidden: bool = True
    use_ngrams: bool = True

    def logits(self, states: np.ndarray, ngram_lists: list[np.ndarray]) -> np.ndarray:
        n = len(ngram_lists)
        out = np.zeros((n, self.b2.shape[0]), dtype=np.float32)
        if self.use_hidden:
            x = (states - self.mean) / self.std
            hid = np.maximum(x @ self.w1 + self.b1, 0.0)
            out += hid @ self.w2 + self.b2
        else:
            out += self.b2
        if self.use_ngrams:
            for i, ids in enumerate(ngram_lists):
                if len(ids):
                    out[i] += self.wn[ids].sum(axis=0) / np.sqrt(len(ids))
        return out


@dataclass
class SafetyHead:
    params: HeadParams
    backbone: str  # fingerprint of the GGUF the states come from
    backbone_name: str
    n_embd: int
    t_verdict: float = 1.0
    t_category: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = LABELS  # the first softmax (the verdict; the hazard head: safe / hazard)
    categories: tuple[str, ...] = CATEGORIES  # the second softmax

    @property
    def head_id(self) -> str:
        return str(self.meta.get("head_id", "unknown"))

    def predict(self, states: np.ndarray, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated (verdict_probs (n, labels), category_probs (n, categories)) for a batch."""
        logits = self.params.logits(np.atleast_2d(states).astype(np.float32), [ngram_ids(t) for t in texts])
        nv = len(self.labels)
        pv = softmax(logits[:, :nv] / self.t_verdict)
        pc = softmax(logits[:, nv:] / self.t_category)
        return pv, pc

    def save(self, path: Path) -> None:
        p = self.params
        meta = dict(self.meta)
        meta.update(
            format=HEAD_FORMAT,
            backbone=self.backbone,
            backbone_name=self.backbone_name,
            n_embd=self.n_embd,
            t_verdict=self.t_verdict,
            t_category=self.t_category,
            labels=list(self.labels),
            categories=list(self.categories),
            use_hidden=p.use_hidden,
            use_ngrams=p.use_ngrams,
            ngram_dim=int(p.wn.shape[0]),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            k: getattr(p, k).astype(np.float16 if k == "wn" else np.float32)
            for k in ("mean", "std", "w1", "b1", "w2", "b2", "wn")
        }
        with path.open("wb") as fh:
            np.savez_compressed(fh, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)

    @classmethod
    def load(
        cls,
        path: Path,
        expect_backbone: str | None = None,
        expect_n_embd: int | None = None,
        *,
        labels: tuple[str, ...] = LABELS,
        categories: tuple[str, ...] = CATEGORIES,
    ) -> SafetyHead:
        if not path.is_file():
            raise HeadError(f"safety head file not found: {path} — train one with `so8t train-head` or set SO8T_HEAD")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                arrays = {k: z[k].astype(np.float32) for k in ("mean", "std", "w1", "b1", "w2", "b2", "wn")}
        except Exception as exc:  # noqa: BLE001 - any parse failure is a corrupt file to the user
            raise HeadError(
                f"safety head file is corrupt: {path} ({type(exc).__name__}) — retrain with `so8t train-head`"
            ) from None
        if (
            meta.get("format") != HEAD_FORMAT
            or meta.get("labels") != list(labels)
            or meta.get("categories") != list(categories)
        ):
            raise HeadError(f"safety head file has an unknown format: {path} — retrain with `so8t train-head`")
        if expect_backbone is not None and meta["backbone"] != expect_backbone:
            raise HeadError(
                f"safety head {path.name} was trained for backbone {meta.get('backbone_name')} "
                f"({meta['backbone']}), not the loaded model ({expect_backbone}); "
                f"train a head for this model with `so8t train-head` or set SO8T_HEAD"
            )
        if expect_n_embd is not None and meta["n_embd"] != expect_n_embd:
            raise HeadError(
                f"safety head {path.name} expects hidden size {meta['n_embd']}, the model has {expect_n_embd}"
            )
        params = HeadParams(use_hidden=bool(meta["use_hidden"]), use_ngrams=bool(meta["use_ngrams"]), **arrays)
        return cls(
            params=params,
            backbone=meta["backbone"],
            backbone_name=meta.get("backbone_name", ""),
            n_embd=int(meta["n_embd"]),
            t_verdict=float(meta["t_verdict"]),
            t_category=float(meta["t_category"]),
            meta=meta,
            labels=labels,
            categories=categories,
        )


def head_path_for(backbone_fingerprint: str, heads_dir: Path) -> Path:
    return heads_dir / f"head-{backbone_fingerprint}.npz"
