"""Head training on synthetic states: it learns, it calibrates, it round-trips through the runtime's loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.base import CATEGORIES, LABELS
from runtime.head import SafetyHead
from training.head_fit import HeadConfig, Split, expected_calibration_error, fit_temperature, train_head


def _data(n: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    yv = rng.integers(0, 3, n)
    centers = np.eye(3, 16) * 5.0
    states = (centers[yv] + rng.normal(size=(n, 16))).astype(np.float32)
    cat = np.array([CATEGORIES.index(c) for c in ("none", "fraud", "hr")])[yv]
    words = np.array(["please help with excel", "fake invoice", "my manager said"])[yv]
    return Split(states=states, texts=[str(w) for w in words], yv=yv, yc=cat)


def test_head_learns_separable_states_and_roundtrips(tmp_path: Path) -> None:
    tr, dv = _data(600, 1), _data(200, 2)
    head = train_head(tr, dv, HeadConfig(epochs=30, hidden=32, batch=32), backbone="fp", backbone_name="syn")
    pv, pc = head.predict(dv.states, dv.texts)
    assert (pv.argmax(1) == dv.yv).mean() > 0.95
    assert (pc.argmax(1) == dv.yc).mean() > 0.95
    head.meta["head_id"] = "t"
    head.save(tmp_path / "h.npz")
    again = SafetyHead.load(tmp_path / "h.npz", expect_backbone="fp")
    pv2, _ = again.predict(dv.states, dv.texts)
    assert np.allclose(pv, pv2, atol=2e-2)


def test_hidden_only_and_ngram_only_ablations_both_train() -> None:
    tr, dv = _data(400, 3), _data(100, 4)
    for cfg in (
        HeadConfig(epochs=30, hidden=16, batch=32, use_ngrams=False),
        HeadConfig(epochs=10, batch=32, use_hidden=False),
    ):
        head = train_head(tr, dv, cfg, backbone="fp", backbone_name="syn")
        pv, _ = head.predict(dv.states, dv.texts)
        assert (pv.argmax(1) == dv.yv).mean() > 0.9


def test_temperature_fixes_overconfidence() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    logits = rng.normal(size=(2000, 3))
    logits[np.arange(2000), y] += 1.0
    over = logits * 6  # far too sharp
    t = fit_temperature(over, y)
    assert t > 3
    from runtime.head import softmax

    assert expected_calibration_error(softmax(over / t), y) < expected_calibration_error(softmax(over), y)
    assert len(LABELS) == 3
