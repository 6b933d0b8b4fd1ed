"""PET: zero on straight lines, exact on parabolas, padding ignored; the phase schedule."""

from __future__ import annotations

import pytest

from training.pet import PetSchedule, pet_penalty


def test_schedule_phases_default() -> None:
    s = PetSchedule()
    assert [s.weight(p) for p in (0.0, 0.29, 0.3, 0.5, 0.69, 0.7, 0.99, 1.0)] == [
        0.05,
        0.05,
        0.2,
        0.2,
        0.2,
        0.5,
        0.5,
        0.5,
    ]
    assert [s.phase(p) for p in (0.0, 0.3, 0.7)] == [0, 1, 2]


def test_schedule_parse_and_validation() -> None:
    s = PetSchedule.parse("0.1,0.3", "0.5")
    assert s.weight(0.4) == 0.1 and s.weight(0.5) == 0.3
    off = PetSchedule.parse("0", "0.3,0.7")
    assert {off.weight(p) for p in (0.0, 0.5, 0.9)} == {0.0}
    assert PetSchedule.parse("0", "").weight(0.9) == 0.0
    with pytest.raises(ValueError):
        PetSchedule.parse("0.1,0.2", "0.3,0.7")  # one weight short
    with pytest.raises(ValueError):
        PetSchedule(weights=(0.1, 0.2, 0.3), bounds=(0.7, 0.3))  # not increasing
    with pytest.raises(ValueError):
        PetSchedule.parse("a,b", "0.5")


torch = pytest.importorskip("torch", reason="PET penalty tests need torch: pip install -e '.[train]'")


def test_penalty_is_zero_for_linear_sequences() -> None:
    t = torch.arange(7, dtype=torch.float32)[None, :, None]
    h = 3.0 + 2.0 * t * torch.randn(1, 1, 16)  # h[t] = a + t b
    mask = torch.ones(1, 7)
    assert float(pet_penalty(h, mask)) == pytest.approx(0.0, abs=1e-9)


def test_penalty_is_exact_for_parabolas() -> None:
    v = torch.randn(1, 1, 8)
    t = torch.arange(6, dtype=torch.float32)[None, :, None]
    h = t.pow(2) * v  # second difference = 2 v everywhere
    assert float(pet_penalty(h, torch.ones(1, 6))) == pytest.approx(float((2 * v).pow(2).mean()), rel=1e-5)


def test_penalty_ignores_padding_and_short_sequences() -> None:
    v = torch.randn(1, 1, 4)
    t = torch.arange(5, dtype=torch.float32)[None, :, None]
    real = t.pow(2) * v
    padded = torch.cat([real, torch.randn(1, 3, 4) * 100], dim=1)  # garbage in 3 padding positions
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]], dtype=torch.float32)
    assert float(pet_penalty(padded, mask)) == pytest.approx(float(pet_penalty(real, torch.ones(1, 5))), rel=1e-5)
    short = torch.randn(2, 4, 4)
    assert float(pet_penalty(short, torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.float32))) == 0.0


def test_penalty_has_gradients() -> None:
    h = torch.randn(2, 5, 3, requires_grad=True)
    pet_penalty(h, torch.ones(2, 5)).backward()
    assert h.grad is not None and float(h.grad.abs().sum()) > 0


def test_relative_pet_is_scale_free_and_absolute_is_not() -> None:
    import torch

    torch.manual_seed(0)
    h = torch.randn(2, 7, 16)
    mask = torch.ones(2, 7)
    rel, rel10 = float(pet_penalty(h, mask, relative=True)), float(pet_penalty(10 * h, mask, relative=True))
    assert rel == pytest.approx(rel10, rel=1e-4)
    assert float(pet_penalty(10 * h, mask)) == pytest.approx(100 * float(pet_penalty(h, mask)), rel=1e-4)
    assert 0.5 < rel < 20  # random states: E[d2^2] / E[h^2] = 6
