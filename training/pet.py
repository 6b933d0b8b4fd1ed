"""PET: a second-order smoothness penalty on hidden states along the sequence, with a phase schedule.

penalty = mean((h[t+2] - 2 h[t+1] + h[t])^2) over the positions where all three tokens are real
(not padding). Its weight grows by phase of training progress (0.05 until 30 %, 0.2 until 70 %, 0.5
after, by default), so the safety persona learned early is held in place while later steps fit tasks.
This module needs no torch import: the penalty only uses tensor methods.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class PetSchedule:
    """weights[i] applies while progress < bounds[i]; the last weight after the last bound."""

    weights: tuple[float, ...] = (0.05, 0.2, 0.5)
    bounds: tuple[float, ...] = (0.3, 0.7)

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.bounds) + 1:
            raise ValueError(f"PET needs one more weight than bounds, got {len(self.weights)} and {len(self.bounds)}")
        if any(not 0.0 < b < 1.0 for b in self.bounds) or list(self.bounds) != sorted(self.bounds):
            raise ValueError("PET bounds must be increasing fractions of training in (0, 1)")
        if any(w < 0 for w in self.weights):
            raise ValueError("PET weights must be >= 0")

    def phase(self, progress: float) -> int:
        return bisect_right(self.bounds, progress)

    def weight(self, progress: float) -> float:
        return self.weights[self.phase(progress)]

    @classmethod
    def parse(cls, weights: str, bounds: str) -> PetSchedule:
        """From the CLI's comma lists, e.g. '0.05,0.2,0.5' and '0.3,0.7'; weights '0' turns PET off."""
        try:
            w = tuple(float(x) for x in weights.split(",") if x.strip())
            b = tuple(float(x) for x in bounds.split(",") if x.strip())
        except ValueError:
            raise ValueError(f"PET weights/bounds must be comma-separated numbers: {weights!r} {bounds!r}") from None
        if len(w) == 1 and not b:
            return cls(weights=w, bounds=())
        if len(w) == 1:
            w = w * (len(b) + 1)
        return cls(weights=w, bounds=b)


def pet_penalty(hidden: torch.Tensor, mask: torch.Tensor, relative: bool = False) -> torch.Tensor:
    """hidden (batch, seq, dim), mask (batch, seq) of 1 for real tokens -> scalar penalty.

    Mean over valid triples and the hidden dimension; 0 when no sequence has three real tokens.
    relative=True divides by the (detached) mean square of the hidden states at the same positions, so
    the penalty is scale-free: raw values differ by backbone (SmolLM2 ~9, Gemma 3 270M ~25-40), which at
    the model card's weights would let the raw term outweigh every other loss."""
    d2 = hidden[:, 2:] - 2 * hidden[:, 1:-1] + hidden[:, :-2]
    m = mask[:, 2:] * mask[:, 1:-1] * mask[:, :-2]
    m = m.to(hidden.dtype)
    n = m.sum().clamp(min=1.0)
    total = (d2.pow(2).mean(dim=-1) * m).sum() / n
    if relative:
        scale = (hidden[:, 1:-1].detach().pow(2).mean(dim=-1) * m).sum() / n
        total = total / scale.clamp(min=1e-6)
    return total
