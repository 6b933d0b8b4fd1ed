"""runtime/stats.py: the one percentile (linear interpolation, numpy's default)."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.stats import percentile


def test_percentile_is_linear_like_numpy() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([3.0], 95) == 3.0 and percentile([], 50) is None
    rng = np.random.default_rng(0)
    sample = rng.exponential(100.0, 37).tolist()
    for q in (0, 5, 50, 90, 95, 99, 100):
        assert percentile(sample, q) == pytest.approx(float(np.percentile(sample, q)))


def test_percentile_refuses_a_q_out_of_range() -> None:
    with pytest.raises(ValueError, match="0..100"):
        percentile([1.0], 101)
