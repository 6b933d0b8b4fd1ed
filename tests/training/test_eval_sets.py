import pytest

from training.eval_metrics import is_harmful
from training.eval_sets import SETS, EvalSetError, load_eval_set


@pytest.mark.parametrize("name", SETS)
def test_every_named_set_loads_with_labels(name: str) -> None:
    where, rows = load_eval_set(name)
    assert rows and where
    assert all(r["label"] in ("ALLOW", "REFUSE", "ESCALATE") and str(r["text"]).strip() for r in rows)


def test_harmbench_is_the_200_standard_behaviours_all_harmful() -> None:
    _, en = load_eval_set("harmbench")
    _, ja = load_eval_set("harmbench-ja")
    assert len(en) == len(ja) == 200
    assert all(is_harmful(r) and r["lang"] == "en" for r in en) and all(r["lang"] == "ja" for r in ja)


def test_written_apart_sets_cover_both_languages_and_every_attack() -> None:
    _, outside = load_eval_set("outside")
    _, attacks = load_eval_set("attacks")
    for lang in ("ja", "en"):
        assert sum(1 for r in outside if r["lang"] == lang and r["kind"] == "safe") >= 120
        assert sum(1 for r in outside if r["lang"] == lang and r["kind"] == "harmful") >= 150
    kinds = {r["attack"] for r in attacks}
    assert {"fake_tags", "base64", "rot13", "split_thread", "zero_width", "roleplay"} <= kinds
    assert all(r["context"] for r in attacks if r["attack"] == "split_thread")


def test_no_public_benchmark_row_is_in_the_training_data() -> None:
    from training.dataset import DATASET_FILE, read_jsonl
    from training.hazard_data import HAZARD_FILE

    train = {str(r["text"]).strip().lower() for p in (DATASET_FILE, HAZARD_FILE) for r in read_jsonl(p)}
    for name in ("harmbench", "harmbench-ja", "outside", "attacks"):
        _, rows = load_eval_set(name)
        leaked = [r["text"] for r in rows if str(r["text"]).strip().lower() in train]
        assert not leaked, (name, leaked[:3])


def test_an_unknown_set_is_one_line() -> None:
    with pytest.raises(EvalSetError, match="unknown evaluation set 'nope'"):
        load_eval_set("nope")


def test_no_everyday_request_is_a_near_copy_of_an_evaluation_row() -> None:
    """The everyday requests were written after the outside set's over-refusals were seen, so they are
    checked against every evaluation row by character-trigram overlap, not only for exact copies."""
    import re
    import unicodedata

    from training.hazard_data import HAZARD_DIR, _lines

    def grams(t: str) -> set[str]:
        t = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", t).lower())
        return {t[i : i + 3] for i in range(max(1, len(t) - 2))}

    evals = [grams(str(r["text"])) for name in ("outside", "attacks", "harmbench-ja") for r in load_eval_set(name)[1]]
    for lang in ("en", "ja"):
        for line in _lines(HAZARD_DIR / "everyday" / f"{lang}.txt"):
            g = grams(line)
            best = max(len(g & e) / len(g | e) for e in evals)
            assert best < 0.35, line
