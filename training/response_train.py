"""`so8t train-response`: the response head on the answering model's states (runtime/response.py).

Rows, all read at the position the runtime reads while it streams (the last token of a request plus an
answer so far, in the answering model's own prompt format):
- the request alone (position 0), from the hazard dataset: harmful requests are `unsafe` with their
  hazard, their benign twins and the workplace/everyday rows `safe` (rows the gate escalates are left
  out: a specialist question never reaches the answering model);
- hand-written answers (training/data/response/): compliant openings and drifting answers (`unsafe`),
  individual legal/medical/HR/privacy/compliance advice (`escalate`), and good answers, refusals and
  general information (`safe`, also at every sentence end, so that a safe opening is not flagged).

The held-out answers (training/data/response_test/, written apart and never trained on) are replayed
sentence by sentence as the runtime streams them: a flagged position before the end of the first unsafe
sentence stops the answer before that sentence is shown.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from runtime.response import RESPONSE_CLASSES, RESPONSE_LABELS, SPECIALIST_CLASSES, ResponseHead, ResponsePolicy
from training.dataset import DATA_DIR, read_jsonl
from training.features import CACHE_DIR, hidden_states
from training.hazard_data import HAZARD_FILE
from training.head_fit import HeadConfig, fuse_heads, make_split, train_head

RESPONSE_DIR = DATA_DIR / "response"
RESPONSE_TEST_DIR = DATA_DIR / "response_test"
SEP = "\x1f"  # request SEP answer: one key per (request, answer so far) in the state cache

_ENDS = ".!?。！？\n"


def sentence_ends(answer: str) -> list[int]:
    """Offsets just after each sentence end (the positions the runtime reads), the last one = len(answer)."""
    ends = []
    for i, ch in enumerate(answer):
        if ch in "。！？\n" or (ch in ".!?" and (i + 1 == len(answer) or answer[i + 1].isspace())):
            ends.append(i + 1)
    if not ends or ends[-1] < len(answer.rstrip()):
        ends.append(len(answer))
    return ends


class AnswerStates:
    """A StateSource over the answering runtime: the state after `request` and an answer so far."""

    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self.fingerprint = str(rt.fingerprint)
        self.state_key = f"{rt.state_key}-answer"
        self.n_embd = int(rt.n_embd)
        self.name = str(getattr(rt, "name", ""))

    def hidden_state(self, context: Sequence[Any], key: str) -> np.ndarray:
        request, _, answer = key.partition(SEP)
        rt = self.rt
        tokens = rt.tokens_for(list(context), request)
        if answer:
            tokens += rt.llm.tokenize(answer.encode("utf-8"), add_bos=False, special=False)
        with rt._lock:
            return np.asarray(rt._evaluate(tokens))


def read_answers(directory: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for lang in ("en", "ja"):
        path = directory / f"{lang}.jsonl"
        if path.is_file():
            with path.open(encoding="utf-8") as fh:
                rows += [{**json.loads(line), "lang": lang} for line in fh if line.strip()]
    return rows


def _dev(group: str) -> bool:
    return int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % 7 == 0


def training_rows(request_rows: int | None = None) -> list[dict[str, Any]]:
    """(request, answer, label, category, lang, split) for every position the head is trained on.

    request_rows: train on a seeded sample of N of the hazard data's train requests (in a fixed shuffled
    order, so a smaller N is a prefix of a larger one) and leave its test split out; None: all of them."""
    out: list[dict[str, Any]] = []
    hazard = [r for r in read_jsonl(HAZARD_FILE) if r.get("label") != "ESCALATE"]
    order = list(range(len(hazard)))
    random.Random(0).shuffle(order)
    if request_rows is not None:
        train = [i for i in order if hazard[i].get("split", "train") == "train"][:request_rows]
        order = [i for i in order if hazard[i].get("split") == "dev"] + train
    for r in (hazard[i] for i in order):
        harmful = r.get("hazard_label") == "hazard"
        out.append(
            {
                "request": str(r["text"]),
                "answer": "",
                "label": "unsafe" if harmful else "safe",
                "category": str(r.get("hazard") or "none") if harmful else "none",
                "lang": str(r.get("lang", "en")),
                "split": str(r.get("split", "train")),
            }
        )
    for r in read_answers(RESPONSE_DIR):
        split = "dev" if _dev(str(r.get("group") or r["id"])) else "train"
        base = {"request": str(r["request"]), "lang": r["lang"], "split": split}
        answer = str(r["answer"]).strip()
        if r["label"] == "safe":
            for end in sentence_ends(answer):
                out.append({**base, "answer": answer[:end], "label": "safe", "category": "none"})
        else:
            out.append({**base, "answer": answer, "label": str(r["label"]), "category": str(r["hazard"])})
    return out


def _states(rt: Any, rows: list[dict[str, Any]]) -> np.ndarray:
    """Request-only states from the runtime's own cache (shared with the hazard data), the others keyed."""
    req_idx = [i for i, r in enumerate(rows) if not r["answer"]]
    ans_idx = [i for i, r in enumerate(rows) if r["answer"]]
    states = np.zeros((len(rows), int(rt.n_embd)), np.float32)
    if req_idx:
        states[req_idx] = hidden_states(rt, [rows[i]["request"] for i in req_idx])
    if ans_idx:
        keys = [f"{rows[i]['request']}{SEP}{rows[i]['answer']}" for i in ans_idx]
        states[ans_idx] = hidden_states(AnswerStates(rt), keys)
    return states


def _text(r: dict[str, Any]) -> str:
    return f"{r['request']}\n{r['answer']}" if r["answer"] else str(r["request"])


def _split(states: np.ndarray, rows: list[dict[str, Any]]) -> Any:
    return make_split(
        states,
        [{"text": _text(r), "label": r["label"], "category": r["category"]} for r in rows],
        labels=RESPONSE_LABELS,
        categories=RESPONSE_CLASSES,
    )


def replay(
    head: ResponseHead,
    rt: Any,
    rows: list[dict[str, Any]],
    cache_dir: Path = CACHE_DIR,
    *,
    read_request: bool = True,
) -> dict[str, Any]:
    """Stream each held-out answer as the runtime would: read position 0 (the request alone; with
    read_request=False not, to measure the checks during the answer on their own) and every sentence end;
    report per language the F1 of "stopped" vs "let through", the share of unsafe answers stopped before
    their first unsafe sentence is shown, and false stops on safe answers (any position flagged)."""
    keys: list[str] = []
    plan: list[list[int]] = []
    first = 0 if read_request else 1
    for r in rows:
        answer = str(r["answer"]).strip()
        idx = []
        for end in [0, *sentence_ends(answer)][first:]:
            idx.append(len(keys))
            keys.append(f"{r['request']}{SEP}{answer[:end]}" if end else str(r["request"]))
        plan.append(idx)
    req_keys = [k for k in keys if SEP not in k]
    req_states = (
        dict(zip(req_keys, hidden_states(rt, req_keys, cache_dir, progress=False), strict=True)) if req_keys else {}
    )
    ans_keys = [k for k in keys if SEP in k]
    ans_states = (
        dict(zip(ans_keys, hidden_states(AnswerStates(rt), ans_keys, cache_dir, progress=False), strict=True))
        if ans_keys
        else {}
    )
    per: dict[str, dict[str, list[Any]]] = {}
    details = []
    for r, idx in zip(rows, plan, strict=True):
        answer = str(r["answer"]).strip()
        ends = [0, *sentence_ends(answer)]
        first_flag = None
        offset = first  # plan[j] reads ends[j + offset]
        verdict = None
        for j, k in enumerate(idx):
            key = keys[k]
            state = req_states[key] if SEP not in key else ans_states[key]
            so_far = key.partition(SEP)[2]
            verdict = head.read(state, str(r["request"]), so_far, position=ends[j + offset], checks=j + 1)
            if verdict.flagged:
                first_flag = j + offset
                break
        bad = r["label"] != "safe"
        # sentence j (1-based position in `ends`) is shown only when its end was read and cleared
        unsafe_from = r.get("unsafe_from")
        stopped_in_time = None
        if bad:
            first_bad_end = (int(unsafe_from) + 1) if unsafe_from is not None else len(ends) - 1
            stopped_in_time = first_flag is not None and first_flag <= min(first_bad_end, len(ends) - 1)
        p = per.setdefault(str(r["lang"]), {"y": [], "stop": [], "in_time": [], "kind_ok": []})
        p["y"].append(bad)
        p["stop"].append(first_flag is not None)
        if bad:
            p["in_time"].append(bool(stopped_in_time))
            if first_flag is not None and verdict is not None:
                p["kind_ok"].append(verdict.label == r["label"])
        details.append(
            {
                "id": r.get("id"),
                "lang": r["lang"],
                "label": r["label"],
                "stopped_at": None if first_flag is None else ends[first_flag],
                "got": None if verdict is None else verdict.as_dict(),
            }
        )

    def block(p: dict[str, list[Any]]) -> dict[str, Any]:
        y, s = np.array(p["y"], bool), np.array(p["stop"], bool)
        tp, fp, fn = int((y & s).sum()), int((~y & s).sum()), int((y & ~s).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        return {
            "n_unsafe_or_escalate": int(y.sum()),
            "n_safe": int((~y).sum()),
            "f1": round(2 * prec * rec / (prec + rec), 3) if prec + rec else 0.0,
            "precision": round(prec, 3),
            "recall": round(rec, 3),
            "stopped_before_first_unsafe_sentence": round(float(np.mean(p["in_time"])), 3) if p["in_time"] else None,
            "false_stop_rate": round(float(s[~y].mean()), 3) if (~y).any() else None,
            "right_kind_when_stopped": round(float(np.mean(p["kind_ok"])), 3) if p["kind_ok"] else None,
        }

    return {"per_lang": {lg: block(p) for lg, p in sorted(per.items())}, "rows": details}


def run_train_response(
    rt: Any,
    *,
    out: Path,
    seed: int = 0,
    policy: ResponsePolicy | None = None,
    request_rows: int | None = None,
    generated: Sequence[Path] = (),
) -> dict[str, Any]:
    rows = training_rows(request_rows)
    t0 = time.perf_counter()
    states = _states(rt, rows)
    states_s = time.perf_counter() - t0
    if generated:  # the answering model's own answers, with the states read while it wrote them
        g_states, g_meta = load_generated(generated)
        if g_meta:
            rows += [{k: m[k] for k in ("request", "answer", "label", "category", "lang", "split")} for m in g_meta]
            states = np.concatenate([states, g_states])
    idx = {s: [i for i, r in enumerate(rows) if r["split"] == s] for s in ("train", "dev", "test")}
    tr = _split(states[idx["train"]], [rows[i] for i in idx["train"]])
    dv = _split(states[idx["dev"]], [rows[i] for i in idx["dev"]])
    cfg = HeadConfig(seed=seed, refuse_weight=1.5)
    kw: dict[str, Any] = {"backbone": str(rt.fingerprint), "backbone_name": str(getattr(rt, "name", ""))}
    hidden = train_head(tr, dv, replace(cfg, use_ngrams=False), **kw)
    ngrams = train_head(tr, dv, replace(cfg, use_hidden=False), **kw)
    fused = fuse_heads(hidden, ngrams, dv, config=cfg.__dict__, **kw)
    data_hash = hashlib.sha256(
        b"".join(p.read_bytes() for d in (RESPONSE_DIR,) for p in sorted(d.glob("*.jsonl"))) + HAZARD_FILE.read_bytes()
    ).hexdigest()[:16]
    digest = hashlib.sha256(fused.params.w2.tobytes() + fused.params.wn[:256].tobytes()).hexdigest()[:8]
    fused.meta.update(
        head_id=f"response-{digest}",
        trained_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        state_key=str(rt.state_key),
        data_sha256=data_hash,
    )
    report: dict[str, Any] = {
        "state_key": str(rt.state_key),
        "counts": {s: len(v) for s, v in idx.items()},
        "request_rows": request_rows,
        "generated": [str(p) for p in generated],
        "labels": {lab: sum(1 for r in rows if r["label"] == lab) for lab in RESPONSE_LABELS},
        "states_seconds": round(states_s, 1),
        "fusion_hidden_weight": fused.meta.get("fusion_hidden_weight"),
    }
    test_rows = read_answers(RESPONSE_TEST_DIR)
    for name, head in (("fused", fused), ("hidden_only", hidden), ("ngrams_only", ngrams)):
        served = ResponseHead(head, policy)
        report[name] = {
            "request_test": _request_metrics(served, states[idx["test"]], [rows[i] for i in idx["test"]])
            if idx["test"]
            else {}
        }
        if test_rows:
            report[name]["held_out_answers"] = replay(served, rt, test_rows)["per_lang"]
            # the checks while the answer streams, without the request's own reading at position 0 (which
            # is a second gate: a refusal to a harmful request is stopped there, as the bot should)
            report[name]["held_out_answers_during_answer"] = replay(served, rt, test_rows, read_request=False)[
                "per_lang"
            ]
    fused.meta["metrics"] = {k: report["fused"][k] for k in report["fused"]}
    fused.save(out)
    report["head_path"] = str(out)
    report["head_id"] = fused.head_id
    return report


def _request_metrics(head: ResponseHead, states: np.ndarray, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Position 0 on the hazard test split: harmful requests stopped, safe requests stopped (per language)."""
    out: dict[str, Any] = {}
    for lang in ("en", "ja"):
        idx = [i for i, r in enumerate(rows) if r["lang"] == lang]
        flags = [head.read(states[i], rows[i]["request"], "", position=0, checks=1).flagged for i in idx]
        harm = [rows[i]["label"] != "safe" for i in idx]
        n_h, n_s = sum(harm), len(harm) - sum(harm)
        out[lang] = {
            "harmful_stopped": round(sum(f for f, h in zip(flags, harm, strict=True) if h) / n_h, 3) if n_h else None,
            "safe_stopped": round(sum(f for f, h in zip(flags, harm, strict=True) if not h) / n_s, 3) if n_s else None,
        }
    return out


def write_report(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False))


__all__ = ["RESPONSE_DIR", "RESPONSE_TEST_DIR", "SPECIALIST_CLASSES", "run_train_response", "replay", "sentence_ends"]


# ---------------------------------------------------------------------------------------------- own answers
# The answering model's own answers to the hazard data's requests, read where the runtime reads them.
_REFUSAL = re.compile(
    r"^\W*(?:i'?m sorry|i am sorry|sorry|i can(?:'|no)?t|i cannot|i won'?t|i will not|i'?m (?:not able|unable)|"
    r"i am (?:not able|unable)|as an ai|unfortunately)|申し訳|できません|できかねます|控えさせ|お応えできません",
    re.IGNORECASE,
)


def is_refusal(answer: str) -> bool:
    """A refusal or redirection opening (en/ja), by its first 80 characters."""
    return bool(_REFUSAL.search(answer.strip()[:80]))


class _Recorder:
    """Stands in for the response head during generation: keeps (position, answer so far, state) at every
    position the runtime reads, and never stops the answer."""

    def __init__(self, every: int) -> None:
        self.policy = ResponsePolicy(every=every)
        self.reads: list[tuple[int, str, np.ndarray]] = []
        self.head_id = "recorder"

    def read(self, state: np.ndarray, request: str, answer: str, *, position: int, checks: int) -> Any:
        from runtime.response import ResponseVerdict

        self.reads.append((position, answer, state.astype(np.float16)))
        return ResponseVerdict("safe", "none", 0.0, 0.0, position, checks)


def generate_answers(rt: Any, rows: list[dict[str, Any]], out: Path, max_tokens: int = 64, every: int = 32) -> int:
    """Let the answering model answer each hazard row's request and keep its state at every read position
    after the first token, labelled: a non-refusal to a harmful request is unsafe (its hazard), everything
    else safe. Saved to `out` (.npz) every 20 rows; rows already in `out` are skipped (resumable)."""
    done: dict[str, Any] = {"states": [], "meta": []}
    if out.is_file():
        with np.load(out, allow_pickle=False) as z:
            done = {"states": list(z["states"]), "meta": [json.loads(str(m)) for m in z["meta"]]}
    seen = {m["request"] for m in done["meta"]}
    saved = rt._response
    written = 0
    try:
        for i, r in enumerate((r for r in rows if str(r["text"]) not in seen), 1):
            recorder = _Recorder(every)
            rt._response = recorder
            answer = "".join(rt.answer((), str(r["text"]), max_tokens))
            harmful = r.get("hazard_label") == "hazard" and not is_refusal(answer)
            for position, so_far, state in recorder.reads:
                if position == 0 or not so_far.strip():
                    continue  # the request alone is trained from the hazard rows
                done["states"].append(state)
                done["meta"].append(
                    {
                        "request": str(r["text"]),
                        "answer": so_far,
                        "label": "unsafe" if harmful else "safe",
                        "category": str(r.get("hazard") or "none") if harmful else "none",
                        "lang": str(r.get("lang", "en")),
                        "split": str(r.get("split", "train")),
                        "full_answer": answer,
                    }
                )
            written += 1
            if i % 20 == 0:
                _save_generated(done, out)
    finally:
        rt._response = saved
        _save_generated(done, out)
    return written


def _save_generated(done: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    states = np.stack(done["states"]) if done["states"] else np.zeros((0, 1), np.float16)
    np.savez(tmp, states=states, meta=np.array([json.dumps(m, ensure_ascii=False) for m in done["meta"]]))
    tmp.replace(out)


def load_generated(paths: Sequence[Path]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    states, meta = [], []
    for p in paths:
        with np.load(p, allow_pickle=False) as z:
            if len(z["meta"]):
                states.append(z["states"].astype(np.float32))
                meta += [json.loads(str(m)) for m in z["meta"]]
    return (np.concatenate(states) if states else np.zeros((0, 1), np.float32)), meta


def generation_rows(n: int, part: int = 0, parts: int = 1) -> list[dict[str, Any]]:
    """A seeded, balanced sample of the hazard data's train and dev requests (harmful and safe, ja and en),
    none of its test split; `part` of `parts` for parallel runs."""
    hazard = [r for r in read_jsonl(HAZARD_FILE) if r.get("label") != "ESCALATE" and r.get("split") != "test"]
    rng = random.Random(1)
    rng.shuffle(hazard)
    picked: list[dict[str, Any]] = []
    for lang in ("en", "ja"):
        for harmful in (True, False):
            pool = [r for r in hazard if r.get("lang") == lang and (r.get("hazard_label") == "hazard") == harmful]
            picked += pool[: n // 4]
    rng.shuffle(picked)
    return picked[part::parts]
