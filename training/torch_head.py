"""The safety head in torch, trained jointly with the LoRA; it converts 1:1 to the runtime's numpy head.

Same shape as runtime.head.HeadParams' hidden part: standardize the state with running statistics
(updated from the detached states while training, since LoRA moves them), one ReLU layer, then
verdict (3) + category (10) logits. The n-gram part is not trained here (see to_safety_head).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from runtime.base import CATEGORIES, LABELS
from runtime.head import NGRAM_DIM, HeadParams, SafetyHead

NV = len(LABELS)
NOUT = NV + len(CATEGORIES)


class TorchHead(nn.Module):
    mean: torch.Tensor
    var: torch.Tensor
    seen: torch.Tensor

    def __init__(self, d: int, hidden: int = 128, dropout: float = 0.2, momentum: float = 0.05) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, NOUT)
        self.drop = nn.Dropout(dropout)
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("var", torch.ones(d))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))

    def std(self) -> torch.Tensor:
        return self.var.sqrt() + 1e-4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self._update_stats(x.detach().float())
        z = (x - self.mean) / self.std()
        out: torch.Tensor = self.fc2(self.drop(F.relu(self.fc1(z))))
        return out

    @torch.no_grad()
    def _update_stats(self, x: torch.Tensor) -> None:
        """Running mean/variance of the states (the first batch sets them, then an EMA)."""
        bm = x.mean(0)
        bv = x.var(0, unbiased=False) if x.shape[0] > 1 else self.var.clone()
        if int(self.seen.item()) == 0:
            self.mean.copy_(bm)
            self.var.copy_(bv if x.shape[0] > 1 else torch.ones_like(bm))
        else:
            self.mean.lerp_(bm, self.momentum)
            self.var.lerp_(bv, self.momentum)
        self.seen += 1


def head_loss(
    logits: torch.Tensor,
    verdict: torch.Tensor,
    category: torch.Tensor,
    category_weight: float = 0.5,
    refuse_weight: float = 1.3,
) -> torch.Tensor:
    """Verdict cross-entropy (REFUSE mistakes weigh more: recall first) + weighted category cross-entropy."""
    w = torch.ones(NV, dtype=logits.dtype, device=logits.device)
    w[LABELS.index("REFUSE")] = refuse_weight
    lv = F.cross_entropy(logits[:, :NV], verdict, weight=w)
    lc = F.cross_entropy(logits[:, NV:], category)
    return lv + category_weight * lc


def to_safety_head(
    head: TorchHead,
    *,
    backbone: str,
    backbone_name: str,
    t_verdict: float = 1.0,
    t_category: float = 1.0,
    meta: dict[str, Any] | None = None,
) -> SafetyHead:
    """The runtime's head format. use_ngrams=False: the fine-tuned head reads the adapter's state only
    (wn is stored as zeros); a late-fused n-gram part can be added later with training/head_fit.py."""

    def arr(t: torch.Tensor) -> np.ndarray:
        return t.detach().float().cpu().numpy().astype(np.float32)

    params = HeadParams(
        mean=arr(head.mean),
        std=arr(head.std()),
        w1=arr(head.fc1.weight).T.copy(),
        b1=arr(head.fc1.bias),
        w2=arr(head.fc2.weight).T.copy(),
        b2=arr(head.fc2.bias),
        wn=np.zeros((NGRAM_DIM, NOUT), np.float32),
        use_hidden=True,
        use_ngrams=False,
    )
    return SafetyHead(
        params=params,
        backbone=backbone,
        backbone_name=backbone_name,
        n_embd=int(head.fc1.in_features),
        t_verdict=t_verdict,
        t_category=t_category,
        meta=dict(meta or {}),
    )
