from pathlib import Path

import numpy as np
import pytest

from runtime.errors import HeadError
from runtime.head import NGRAM_DIM, HeadParams, SafetyHead, ngram_ids


def _head(d: int = 8) -> SafetyHead:
    rng = np.random.default_rng(0)
    p = HeadParams(
        mean=np.zeros(d),
        std=np.ones(d),
        w1=rng.normal(size=(d, 4)),
        b1=np.zeros(4),
        w2=rng.normal(size=(4, 13)),
        b2=np.zeros(13),
        wn=np.zeros((NGRAM_DIM, 13)),
    )
    return SafetyHead(
        params=p, backbone="abc123", backbone_name="tiny", n_embd=d, t_verdict=1.5, meta={"head_id": "head-test"}
    )


def test_roundtrip_gives_the_same_probabilities(tmp_path: Path) -> None:
    head = _head()
    path = tmp_path / "h.npz"
    head.save(path)
    loaded = SafetyHead.load(path, expect_backbone="abc123", expect_n_embd=8)
    x = np.ones((2, 8), np.float32)
    a, b = head.predict(x, ["hello", "こんにちは"]), loaded.predict(x, ["hello", "こんにちは"])
    assert np.allclose(a[0], b[0], atol=1e-3) and np.allclose(a[1], b[1], atol=1e-3)
    assert loaded.head_id == "head-test" and loaded.t_verdict == 1.5
    assert np.allclose(a[0].sum(axis=1), 1.0)


def test_head_for_another_backbone_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.npz"
    _head().save(path)
    with pytest.raises(HeadError, match="trained for backbone tiny"):
        SafetyHead.load(path, expect_backbone="other")


def test_missing_and_corrupt_head_files_have_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(HeadError, match="not found") as e1:
        SafetyHead.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(HeadError, match="corrupt") as e2:
        SafetyHead.load(bad)
    assert "\n" not in str(e1.value) and "\n" not in str(e2.value)


def test_ngrams_are_deterministic_and_bounded() -> None:
    a, b = ngram_ids("Kill the zombie process"), ngram_ids("kill the  zombie process")
    assert len(a) > 10 and a.max() < NGRAM_DIM
    assert set(a) & set(b)
    assert np.array_equal(ngram_ids("テスト"), ngram_ids("テスト"))
