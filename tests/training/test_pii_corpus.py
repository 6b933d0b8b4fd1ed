"""The PII corpus generator: deterministic per seed, well-formed samples, and the rates it reports."""

from __future__ import annotations

import re
from collections import Counter

from bot.pii import Span, iban_ok, luhn_ok, my_number_ok
from training.pii_corpus import KINDS, LANGS, Rates, Sample, detected, evaluate, generate, table


def test_same_seed_same_corpus() -> None:
    assert generate(seed=3, n_pos=50, n_neg=50) == generate(seed=3, n_pos=50, n_neg=50)


def test_other_seed_other_corpus() -> None:
    a = [s.text for s in generate(seed=3, n_pos=50, n_neg=50)]
    b = [s.text for s in generate(seed=4, n_pos=50, n_neg=50)]
    assert a != b
    assert len(set(a) & set(b)) < len(a) // 2


def test_sizes_per_kind_and_language() -> None:
    corpus = generate(seed=1, n_pos=20, n_neg=30)
    counts = Counter((s.kind, s.lang, s.positive) for s in corpus)
    for kind in KINDS:
        for lang in LANGS:
            assert counts[(kind, lang, True)] == 20
            assert counts[(kind, lang, False)] == 30


def test_samples_are_well_formed() -> None:
    for s in generate(seed=2, n_pos=100, n_neg=100):
        assert "\x01" not in s.text and "\x02" not in s.text
        for a, b in s.targets:
            assert 0 <= a < b <= len(s.text)
            assert any(c.isalnum() for c in s.text[a:b])


def test_positives_vary_width_and_punctuation() -> None:
    corpus = generate(seed=5, n_pos=200, n_neg=10)
    phones_ja = [s.text[a:b] for s in corpus if s.kind == "PHONE" and s.lang == "ja" for a, b in s.targets]
    assert any(re.search("[０-９]", v) for v in phones_ja)  # full-width digits
    assert any(re.fullmatch(r"[0-9+()\- ]+", v) for v in phones_ja)  # and ASCII ones
    assert {"-", " "} <= {c for v in phones_ja for c in v}  # different separators
    after = {s.text[b] for s in corpus for _, b in s.targets if b < len(s.text)}
    assert {".", ",", "。", "、"} <= after


def test_generated_numbers_carry_valid_check_digits() -> None:
    """The generator computes check digits on its own; bot.pii's checks must agree with it."""
    corpus = generate(seed=6, n_pos=100, n_neg=0)

    def values(kind: str) -> list[str]:
        return [s.text[a:b] for s in corpus if s.kind == kind for a, b in s.targets]

    def digits(v: str) -> str:
        return "".join(str(int(c)) for c in v if c.isdigit())

    assert all(luhn_ok(digits(v)) for v in values("CARD"))
    assert all(my_number_ok(digits(v)) for v in values("MYNUMBER"))
    ibans = [v for v in values("BANK") if v[:2].isalpha()]
    assert ibans and all(iban_ok(v) for v in ibans)


def test_detected_needs_every_character_and_the_kind() -> None:
    s = Sample("PHONE", "en", "call 090-1234-5678 now", ((5, 18),))
    assert detected(s, [Span("PHONE", 5, 18)])
    assert detected(s, [Span("PHONE", 0, 22)])  # masking more is still masking it
    assert not detected(s, [Span("PHONE", 5, 14)])  # "5678" left
    assert not detected(s, [Span("CARD", 5, 18)])  # wrong kind


def test_evaluate_and_table() -> None:
    rates = evaluate(generate(seed=9, n_pos=10, n_neg=10))
    assert [(r.kind, r.lang) for r in rates] == [(k, lang) for k in KINDS for lang in LANGS]
    assert all(r.positives == 10 and r.negatives == 10 for r in rates)
    text = table(rates)
    assert text.splitlines()[0] == "| kind | ja detection | en detection | ja FP | en FP |"
    assert len(text.splitlines()) == 2 + len(KINDS)


def test_rates_arithmetic() -> None:
    r = Rates("CARD", "ja", positives=200, detected=198, negatives=100, false_positives=1)
    assert r.detection == 0.99 and r.fp_rate == 0.01 and r.ok
    assert not Rates("CARD", "ja", 200, 197, 100, 0).ok
    assert not Rates("CARD", "ja", 200, 200, 100, 2).ok
    assert r.as_dict()["detection"] == 0.99
