"""The shipped dataset: size, mix, languages, fields, and a split by group with no leakage."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from runtime.base import ESCALATE_DOMAINS, REFUSE_CATEGORIES
from training.dataset import DATASET_FILE, build, read_core, read_jsonl, split_of


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return read_jsonl(DATASET_FILE)


def test_shipped_dataset_is_what_the_builder_makes(rows: list[dict[str, object]]) -> None:
    built = build()
    assert len(built) == len(rows)
    assert [r.text for r in built] == [r["text"] for r in rows]


def test_size_mix_and_languages(rows: list[dict[str, object]]) -> None:
    n = len(rows)
    assert 9_000 <= n <= 11_000
    labels = Counter(r["label"] for r in rows)
    assert abs(labels["ALLOW"] / n - 0.4) < 0.03
    assert abs(labels["REFUSE"] / n - 0.3) < 0.03
    assert abs(labels["ESCALATE"] / n - 0.3) < 0.03
    langs = Counter(r["lang"] for r in rows)
    assert abs(langs["ja"] / n - 0.5) < 0.03


def test_fields_and_categories(rows: list[dict[str, object]]) -> None:
    for r in rows:
        assert {"id", "text", "lang", "label", "category", "group", "source", "split"} <= set(r)
        if r["label"] == "ALLOW":
            assert r["category"] == "none"
        elif r["label"] == "REFUSE":
            assert r["category"] in REFUSE_CATEGORIES
        else:
            assert r["category"] in ESCALATE_DOMAINS and r["domain"] == r["category"]
    cats = Counter((r["label"], r["category"]) for r in rows)
    for c in REFUSE_CATEGORIES:
        assert cats[("REFUSE", c)] > 200
    for c in ESCALATE_DOMAINS:
        assert cats[("ESCALATE", c)] > 200


def test_at_least_2000_distinct_hand_written_cores() -> None:
    texts = {t for (_, _, _, t, _) in read_core()}
    assert len(texts) >= 2000


def test_split_is_by_group_so_no_variant_of_a_test_core_is_in_train(rows: list[dict[str, object]]) -> None:
    split_by_group: dict[object, set[object]] = {}
    for r in rows:
        split_by_group.setdefault(r["group"], set()).add(r["split"])
        assert r["split"] == split_of(str(r["group"]))
    assert all(len(s) == 1 for s in split_by_group.values())
    train_texts = {r["text"] for r in rows if r["split"] == "train"}
    assert not any(r["text"] in train_texts for r in rows if r["split"] == "test")
    splits = Counter(r["split"] for r in rows)
    assert splits["test"] > 1000 and splits["dev"] > 600


def test_holdout_set_is_separate_and_valid() -> None:
    path = Path(DATASET_FILE).parent / "holdout" / "unseen.jsonl"
    hold = read_jsonl(path)
    assert len(hold) >= 300
    core = {t for (_, _, _, t, _) in read_core()}
    assert not any(r["text"] in core for r in hold)
    assert Counter(r["lang"] for r in hold).keys() == {"ja", "en"}


def test_variants_keep_label_and_group() -> None:
    by_group: dict[str, set[tuple[str, str]]] = {}
    for line in DATASET_FILE.read_text(encoding="utf-8").splitlines()[:3000]:
        r = json.loads(line)
        by_group.setdefault(r["group"], set()).add((r["label"], r["category"]))
    assert all(len(v) == 1 for v in by_group.values())
