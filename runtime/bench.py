"""`so8t bench`: the runtime against raw llama-cpp-python on the same model and prompts, in one run.

verdict_overhead_ratio: decide() (tokenize + prompt eval + hidden-state read + head + gate) vs a raw
    `Llama.eval` of the same prompt tokens, both from an empty KV cache.
answer_overhead_ratio: decide() + answer() end to end vs raw `create_chat_completion` with the same
    messages and max_tokens, both greedy from an empty cache.
prefix_cache_speedup: decide() from an empty cache vs with the system prefix cached.
response_check_overhead_ratio: decide() + answer() with the response head reading the answering model's
    state at sentence ends (runtime/response.py) vs the same with it off, when a response head is loaded.
For a HybridRuntime the verdict figures are the safety model's and the raw answer side is the answer
model's own create_chat_completion, so answer_overhead_ratio shows what the hybrid's second model costs.
Runs interleave raw and ours per prompt and take medians, so drift hits both sides alike.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from runtime.prompts import build_messages

BENCH_PROMPTS = [
    "How do I reverse a list in Python?",
    "Can you write a short polite email asking my team to submit their timesheets by Friday?",
    "What's the difference between git merge and git rebase?",
    "Explain what a SQL LEFT JOIN does with a small example.",
    "Pythonでリストを逆順にする方法を教えてください。",
    "来週の定例会議のアジェンダを3項目で作ってもらえますか？",
]


def _med(xs: list[float]) -> float:
    return statistics.median(xs)


def run_bench(rt: Any, repeat: int = 3, max_tokens: int = 32) -> dict[str, Any]:
    safety = getattr(rt, "safety", rt)
    answerer = getattr(rt, "answerer", rt)
    llm, answer_llm = safety.llm, answerer.llm
    raw_eval, ours_decide, warm_decide = [], [], []
    raw_answer, ours_answer, unwatched_answer, first_piece = [], [], [], []
    monitor = getattr(answerer, "_response", None)
    raw_tokens, ours_tokens = 0, 0
    per_prompt: list[dict[str, Any]] = []
    rt.decide((), "warm-up")  # page the weights in for both sides
    list(rt.answer((), "warm-up", max_tokens=2))
    for prompt in BENCH_PROMPTS:
        tokens = safety.tokens_for((), prompt)
        r_e, o_d, w_d, r_a, o_a, u_a, f_p = [], [], [], [], [], [], []
        for _ in range(repeat):
            llm.reset()
            t = time.perf_counter()
            llm.eval(tokens)
            r_e.append(time.perf_counter() - t)

            llm.reset()
            t = time.perf_counter()
            rt.decide((), prompt)
            o_d.append(time.perf_counter() - t)

            rt.decide((), "a different earlier request")  # leaves the system prefix cached
            t = time.perf_counter()
            rt.decide((), prompt)
            w_d.append(time.perf_counter() - t)

            llm.reset()
            answer_llm.reset()
            t = time.perf_counter()
            out = answer_llm.create_chat_completion(
                messages=build_messages((), prompt, answerer.system_prompt),  # the prompt the answerer reads
                max_tokens=max_tokens,
                temperature=0.0,
                top_k=1,
                seed=0,
            )
            r_a.append(time.perf_counter() - t)
            raw_n = int(out["usage"]["completion_tokens"])

            llm.reset()
            answer_llm.reset()
            t = time.perf_counter()
            d = rt.decide((), prompt)
            pieces: list[str] = []
            for piece in rt.answer((), prompt, max_tokens=max_tokens):
                if not pieces:
                    f_p.append(time.perf_counter() - t)
                pieces.append(piece)
            o_a.append(time.perf_counter() - t)
            ours_n = len(answer_llm.tokenize("".join(pieces).encode(), add_bos=False, special=False))

            if monitor is not None:  # the same without the response check
                llm.reset()
                answer_llm.reset()
                answerer._response = None
                try:
                    t = time.perf_counter()
                    rt.decide((), prompt)
                    list(rt.answer((), prompt, max_tokens=max_tokens))
                    u_a.append(time.perf_counter() - t)
                finally:
                    answerer._response = monitor
        raw_tokens += raw_n
        ours_tokens += ours_n
        raw_eval.append(_med(r_e))
        ours_decide.append(_med(o_d))
        warm_decide.append(_med(w_d))
        raw_answer.append(_med(r_a))
        ours_answer.append(_med(o_a))
        if f_p:
            first_piece.append(_med(f_p))
        if u_a:
            unwatched_answer.append(_med(u_a))
        per_prompt.append(
            {
                "prompt_tokens": len(tokens),
                "raw_eval_ms": _med(r_e) * 1000,
                "decide_ms": _med(o_d) * 1000,
                "decide_warm_ms": _med(w_d) * 1000,
                "raw_answer_ms": _med(r_a) * 1000,
                "answer_ms": _med(o_a) * 1000,
                "verdict": d.decision,
                "raw_completion_tokens": raw_n,
                "ours_completion_tokens": ours_n,
            }
        )
    s = sum
    return {
        "model": rt.model_id,
        "head": rt.head_id,
        "prompts": len(BENCH_PROMPTS),
        "repeat": repeat,
        "max_tokens": max_tokens,
        "raw_prompt_eval_ms": round(s(raw_eval) / len(raw_eval) * 1000, 1),
        "decide_ms": round(s(ours_decide) / len(ours_decide) * 1000, 1),
        "decide_warm_prefix_ms": round(s(warm_decide) / len(warm_decide) * 1000, 1),
        "verdict_overhead_ratio": round(s(ours_decide) / s(raw_eval), 3),
        "raw_chat_completion_ms": round(s(raw_answer) / len(raw_answer) * 1000, 1),
        "allow_end_to_end_ms": round(s(ours_answer) / len(ours_answer) * 1000, 1),
        "answer_overhead_ratio": round(s(ours_answer) / s(raw_answer), 3),
        "prefix_cache_speedup": round(s(ours_decide) / s(warm_decide), 2),
        # decide() + the answer's first released text (after the first cleared sentence with a response head)
        "first_text_ms_p50": round(_med(first_piece) * 1000, 1) if first_piece else None,
        "response_check_overhead_ratio": (
            round(s(ours_answer) / s(unwatched_answer), 3) if unwatched_answer else None
        ),
        "raw_completion_tokens": raw_tokens,
        "ours_completion_tokens": ours_tokens,
        "per_prompt": per_prompt,
    }
