"""Small statistics shared by every layer that reports figures (eval, bench, load bench, weekly reports).

`percentile` is the one definition of p50 / p95 / p99 in SO8T: linear interpolation between the closest
ranks, numpy's default ("linear", type 7 of Hyndman and Fan). With n sorted values the q-th percentile
lies at position (n - 1) * q / 100; between two values it is interpolated, so p50 of [1, 2, 3, 4] is 2.5.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (q in 0..100) of `values` by linear interpolation; None when there are none."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be in 0..100, got {q}")
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
