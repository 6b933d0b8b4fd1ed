"""`so8t pet-ablation` at smoke scale: both arms run both phases on the same rows and report the drop."""

from __future__ import annotations

import json
from pathlib import Path

from tests.training.conftest import TEST_BASE, run_cli, torch_or_skip, write_slice_with_test

torch_or_skip()


def test_ablation_reports_both_arms_after_both_phases(tmp_path: Path) -> None:
    data = write_slice_with_test(tmp_path / "slice.jsonl")
    out = tmp_path / "abl"
    args = ["--data", str(data), "--out", str(out), "--safety-steps", "2", "--task-steps", "2", "--eval-rows", "3"]
    args += [
        "--base",
        TEST_BASE,
        "--batch",
        "2",
        "--max-len",
        "64",
        "--calib-rows",
        "4",
        "--threads",
        "2",
        "--pet-weight",
        "0.5",
    ]
    r = run_cli("pet-ablation", *args)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "ablation.json").read_text())
    assert set(report["arms"]) == {"pet", "no-pet"}
    assert report["arms"]["pet"]["pet_weight"] == 0.5 and report["arms"]["no-pet"]["pet_weight"] == 0.0
    for arm in report["arms"].values():
        for phase in ("after_safety", "after_task"):
            assert arm[phase]["n"] == 3 and 0.0 <= arm[phase]["accuracy"] <= 1.0
    # each phase really trained: PET logged in the pet arm, zero weight in the other; the task phase had no head loss
    for arm, w in (("pet", 0.5), ("no-pet", 0.0)):
        task = [json.loads(x) for x in (out / arm / "task" / "metrics.jsonl").read_text().splitlines()]
        assert len(task) == 2 and all(t["pet_weight"] == w for t in task)
        safety = [json.loads(x) for x in (out / arm / "safety" / "metrics.jsonl").read_text().splitlines()]
        assert len(safety) == 2
    # same seed and rows: the two arms' first safety step sees the same batch, so the same head loss
    first = {
        a: json.loads((out / a / "safety" / "metrics.jsonl").read_text().splitlines()[0]) for a in ("pet", "no-pet")
    }
    assert first["pet"]["head_loss"] == first["no-pet"]["head_loss"]
    assert "| pet (w=0.5) | after task |" in r.stdout
    # the same --out again is refused with one line, nothing overwritten
    again = run_cli("pet-ablation", *args, timeout=120)
    assert again.returncode == 2 and "not empty" in again.stderr
