"""`so8t pet-ablation`: does PET keep the safety persona when the model is later tuned on a task?

Two arms with the same seed, rows and steps, differing only in the PET weight:
  1. safety phase: LoRA + safety head + LM on reference replies (the normal `so8t train` loss), N1 steps;
     then the head is calibrated on dev and measured on test (states through transformers + LoRA).
  2. task-only phase: the head is frozen and its loss is off; the LoRA keeps training for N2 steps on
     a language-modelling task over ALLOW conversations (every token after the first, request and reply),
     the kind of later task tuning that drifts the states the head reads. The same frozen head is then
     measured again on the same test rows.
PET (when on) is applied in both phases with the same weight. The drop from (1) to (2) is the figure:
a smaller drop with PET means it holds the safety persona in place.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from runtime.base import LABELS
from training.lora import Run, TrainConfig, prepare, train_loop
from training.lora_data import select_rows
from training.pet import PetSchedule

KEEP = ("safety_score", "refuse_recall", "escalate_precision", "allow_precision", "accuracy")


def measure(run: Run, rows: list[dict[str, Any]], calibrate: bool, head_cache: dict[str, Any]) -> dict[str, Any]:
    """Safety metrics of the (possibly frozen) head on `rows`, reading states through the current LoRA."""
    from training.lora_data import encode_rows
    from training.lora_export import calibrated_head, prompt_states
    from training.train_head import head_metrics

    run.model.eval()
    run.head.eval()
    if calibrate:
        head_cache["head"], _ = calibrated_head(run)
    head = head_cache["head"]
    enc = encode_rows(run.tokenizer, rows, [None] * len(rows), run.cfg.max_len)
    states = prompt_states(run.model.get_base_model(), [e.ids[: e.prompt_len] for e in enc])
    m = head_metrics(head, states, rows, run.cfg.threshold)
    run.model.train()
    run.head.train()
    out = {k: m[k] for k in KEEP}
    out["per_lang"] = {lg: {k: v[k] for k in KEEP} for lg, v in m["per_lang"].items()}
    out["n"] = len(rows)
    return out


def task_rows(run: Run) -> list[Any]:
    """ALLOW rows as a plain LM task over the whole conversation (head loss off)."""
    allow = LABELS.index("ALLOW")
    return [replace(e, prompt_len=1) for e in run.train if e.verdict == allow]


def run_arm(
    base_cfg: TrainConfig,
    pet_weight: float,
    safety_steps: int,
    task_steps: int,
    test_rows: list[dict[str, Any]],
    log: Callable[[str], None],
) -> dict[str, Any]:
    arm = "pet" if pet_weight > 0 else "no-pet"
    pet = PetSchedule(weights=(pet_weight,), bounds=())
    cfg = replace(base_cfg, out=base_cfg.out / arm / "safety", pet=pet, max_steps=safety_steps)
    t0 = time.perf_counter()
    run = prepare(cfg)
    train_loop(run)
    cache: dict[str, Any] = {}
    after_safety = measure(run, test_rows, calibrate=True, head_cache=cache)
    log(f"[{arm}] after safety phase ({safety_steps} steps): safety_score {_f(after_safety['safety_score'])}")
    for p in run.head.parameters():
        p.requires_grad_(False)
    run.cfg = replace(cfg, out=base_cfg.out / arm / "task", head_weight=0.0, max_steps=task_steps)
    run.train = task_rows(run)
    run.step, run.total = 0, task_steps
    train_loop(run)
    after_task = measure(run, test_rows, calibrate=False, head_cache=cache)
    log(f"[{arm}] after task phase ({task_steps} steps): safety_score {_f(after_task['safety_score'])}")
    return {
        "pet_weight": pet_weight,
        "after_safety": after_safety,
        "after_task": after_task,
        "drop": {
            k: round(after_safety[k] - after_task[k], 4) if None not in (after_safety[k], after_task[k]) else None
            for k in KEEP
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }


def ablate(
    base_cfg: TrainConfig,
    pet_weight: float,
    safety_steps: int,
    task_steps: int,
    eval_rows: int,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    from training.dataset import read_jsonl

    rows = read_jsonl(base_cfg.data)
    test = [dict(r) for r in select_rows(rows, "test", eval_rows, base_cfg.seed)]
    if not test:
        from training.lora import TrainError

        raise TrainError(f"{base_cfg.data}: no labelled test rows to measure the safety persona on")
    report: dict[str, Any] = {
        "config": base_cfg.to_dict(),
        "safety_steps": safety_steps,
        "task_steps": task_steps,
        "eval_rows": len(test),
        "arms": {},
    }
    for w in (pet_weight, 0.0):
        report["arms"]["pet" if w > 0 else "no-pet"] = run_arm(base_cfg, w, safety_steps, task_steps, test, log)
    base_cfg.out.mkdir(parents=True, exist_ok=True)
    (base_cfg.out / "ablation.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def _f(v: float | None) -> str:
    """A metric for the table; '-' where it is undefined (e.g. no ALLOW predicted: no allow precision)."""
    return "-" if v is None else f"{v:.3f}"


def table(report: dict[str, Any]) -> str:
    lines = [
        "| arm | phase | safety | ja | en | refuse recall | escalate precision | allow precision |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, r in report["arms"].items():
        for phase in ("after_safety", "after_task"):
            m = r[phase]
            pl = m["per_lang"]
            lines.append(
                f"| {arm} (w={r['pet_weight']}) | {phase.replace('_', ' ')} | {_f(m['safety_score'])} | "
                f"{_f(pl.get('ja', {}).get('safety_score'))} | {_f(pl.get('en', {}).get('safety_score'))} | "
                f"{_f(m['refuse_recall'])} | {_f(m['escalate_precision'])} | {_f(m['allow_precision'])} |"
            )
    return "\n".join(lines)
