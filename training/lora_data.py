"""Dataset rows -> token sequences for joint training: the served prompt, then the reference reply.

The prompt is the runtime's (runtime.prompts.build_messages through the model's chat template), so the
head learns on the state it will read when served: the prompt's last token, which causal attention
keeps independent of the reply that follows it in the same sequence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.base import CATEGORIES, LABELS
from runtime.prompts import build_messages


@dataclass(frozen=True)
class Encoded:
    ids: tuple[int, ...]
    prompt_len: int  # the head reads position prompt_len - 1; LM targets are ids[prompt_len:]
    verdict: int
    category: int


def data_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def select_rows(
    rows: Sequence[Mapping[str, object]], split: str, limit: int | None, seed: int
) -> list[Mapping[str, object]]:
    """Rows of a split (rows without a split field count as train), optionally a seeded sample of `limit`."""
    chosen = [r for r in rows if str(r.get("split", "train")) == split and r.get("label") in LABELS]
    if limit is not None and limit < len(chosen):
        idx = np.random.default_rng(seed).permutation(len(chosen))[:limit]
        chosen = [chosen[i] for i in sorted(idx)]
    return chosen


def _truncate_prompt(ids: list[int], budget: int) -> list[int]:
    """Keep the start (system prefix) and the end (the request's last tokens, where the head reads)."""
    if len(ids) <= budget:
        return ids
    keep_head = min(64, budget // 4)
    return ids[:keep_head] + ids[len(ids) - (budget - keep_head) :]


def encode_rows(
    tokenizer: Any, rows: Sequence[Mapping[str, object]], replies: Sequence[str | None], max_len: int
) -> list[Encoded]:
    out = []
    for row, reply in zip(rows, replies, strict=True):
        msgs = build_messages((), str(row["text"]))
        prompt = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        p_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        r_ids: list[int] = []
        if reply:
            full = tokenizer.apply_chat_template(msgs + [{"role": "assistant", "content": reply}], tokenize=False)
            tail = full[len(prompt) :] if full.startswith(prompt) else reply + (tokenizer.eos_token or "")
            r_ids = list(tokenizer(tail, add_special_tokens=False)["input_ids"])
        reply_budget = min(len(r_ids), max_len // 3)
        p_ids = _truncate_prompt(p_ids, max_len - reply_budget)
        r_ids = r_ids[: max_len - len(p_ids)]
        out.append(
            Encoded(
                ids=tuple(p_ids + r_ids),
                prompt_len=len(p_ids),
                verdict=LABELS.index(str(row["label"])),  # type: ignore[arg-type]
                category=CATEGORIES.index(str(row.get("category") or "none")),
            )
        )
    return out


def collate(batch: Sequence[Encoded], pad_id: int) -> dict[str, np.ndarray]:
    """Right-padded arrays: input_ids, attention_mask, labels (-100 outside replies), prompt_len, verdict, category."""
    n = max(len(e.ids) for e in batch)
    ids = np.full((len(batch), n), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), n), dtype=np.int64)
    labels = np.full((len(batch), n), -100, dtype=np.int64)
    for i, e in enumerate(batch):
        ids[i, : len(e.ids)] = e.ids
        mask[i, : len(e.ids)] = 1
        labels[i, e.prompt_len : len(e.ids)] = e.ids[e.prompt_len :]
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": labels,
        "prompt_len": np.array([e.prompt_len for e in batch], dtype=np.int64),
        "verdict": np.array([e.verdict for e in batch], dtype=np.int64),
        "category": np.array([e.category for e in batch], dtype=np.int64),
    }


def batch_indices(step: int, n: int, batch: int, seed: int) -> np.ndarray:
    """The rows of global step `step`: epoch-wise seeded permutations, so a resumed run sees the same order."""
    per_epoch = max(1, -(-n // batch))
    epoch, k = divmod(step, per_epoch)
    order = np.random.default_rng(seed * 1_000_003 + epoch).permutation(n)
    return order[k * batch : (k + 1) * batch]
