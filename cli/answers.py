"""`so8t eval-answers`: how usable the answer model's replies to ordinary work questions are, per language.

The verdict has its own metrics (`so8t eval`); this measures the other half, the text an ALLOWed asker
reads. The answer model is loaded exactly as the hybrid serves it (runtime.loader.load_answerer) and
every answer is scored by runtime.answer_score; a person can read each one in the --out report.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import time
from pathlib import Path
from typing import Any

import click

from cli.common import CliState, fail

QUESTIONS_FILE = Path(__file__).resolve().parents[1] / "training" / "data" / "answers" / "questions.jsonl"
REPORT_DIR = Path("var") / "eval-answers"


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Rows with id, lang (ja|en), question and key_terms; a bad file is one clear error."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"questions file not readable: {path} ({exc.strerror})") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            ok = row["lang"] in ("ja", "en") and str(row["question"]).strip() and isinstance(row["key_terms"], list)
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise ValueError(f"{path}:{n}: each line needs id, lang (ja|en), question and key_terms (a list)")
        rows.append(row)
    return rows


def _answer_runtime(state: CliState, model: str | None, max_tokens: int) -> Any:
    """The answer model as served: --model, else model.answer_model, else the embedded
    HYBRID_ANSWER_BACKBONE; "self" = the deciding model answering under its own prompt."""
    from runtime.errors import RuntimeLoadError
    from runtime.llama import LlamaRuntime
    from runtime.loader import load_answerer
    from runtime.models import HYBRID_ANSWER_BACKBONE

    settings = dataclasses.replace(state.config.model, max_answer_tokens=max_tokens)
    name = model or settings.answer_model or HYBRID_ANSWER_BACKBONE.name
    try:
        if name == "self":
            return LlamaRuntime(settings, with_head=False)
        return load_answerer(settings, name)
    except RuntimeLoadError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


SHORTENED = "[shortened]"  # the marker handed to the guard; taken off again before scoring


def _guard_class() -> Any:
    """runtime.answer_guard.AnswerGuard when that module is present (it is optional here), else None."""
    try:
        from runtime.answer_guard import AnswerGuard
    except ImportError:
        return None
    return AnswerGuard


def _guarded(guard_cls: Any, pieces: list[str], lang: str, system_prompt: str, hit_limit: bool) -> tuple[str, str]:
    """(outcome, text the asker would read) as the bot streams it: pieces fed until the guard says stop,
    then finish(); a fallback posts no answer (""). The shortened marker is not part of the answer."""
    guard = guard_cls(lang, SHORTENED, instructions=(system_prompt,))
    stopped = False
    for piece in pieces:
        if guard.feed(piece):
            stopped = True
            break
    result = guard.finish(budget_hit=hit_limit and not stopped)
    text = "" if result.fallback else str(result.text).removesuffix(SHORTENED).strip()
    return str(result.outcome), text


def run_answers(rt: Any, questions: list[dict[str, Any]], max_tokens: int, progress: bool = True) -> dict[str, Any]:
    """Answer every question (greedy unless configured otherwise), timing each answer (first piece, total,
    tokens), then score them all (score_run)."""
    records: list[dict[str, Any]] = []
    list(rt.answer((), "warm-up", max_tokens=2))  # page the weights in before the clock runs
    for i, q in enumerate(questions, 1):
        t0 = time.perf_counter()
        first: float | None = None
        pieces = []
        for piece in rt.answer((), q["question"], max_tokens=max_tokens):
            if first is None:
                first = time.perf_counter() - t0
            pieces.append(piece)
        total = time.perf_counter() - t0
        answer = "".join(pieces).strip()
        # the answer re-tokenized: within a token or two of what was sampled
        n_tokens = len(rt.llm.tokenize(answer.encode("utf-8"), add_bos=False, special=False)) if answer else 0
        records.append(
            {
                "id": q.get("id", str(i)),
                "lang": q["lang"],
                "topic": q.get("topic", ""),
                "question": q["question"],
                "key_terms": q["key_terms"],
                "answer": answer,
                "tokens": n_tokens,
                "hit_limit": n_tokens >= max_tokens - 1,
                "first_piece_s": round(first or total, 3),
                "total_s": round(total, 3),
                "pieces": pieces,  # as streamed: the guard is replayed on them, also by --rescore
                # the response head stopped it (every question here is a safe work question: a false stop)
                "response_stopped": getattr(rt, "last_finish_reason", None) == "flagged",
            }
        )
        if progress:
            click.echo(f"\r[{i}/{len(questions)}] {records[-1]['id']} {total:.1f}s", nl=False, err=True)
    if progress:
        click.echo(err=True)
    meta = {"model": rt.name, "model_id": rt.model_id, "system_prompt": rt.system_prompt, "max_tokens": max_tokens}
    return score_run(records, meta)


def score_run(records: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """Score every answer, raw and through runtime.answer_guard when it is present, and sum up the run.
    Pure given the records, so a saved run can be re-scored when the scorer or the key terms change."""
    from runtime.answer_score import AnswerScore, score_answer, summarize

    guard_cls = _guard_class()
    prompts = (meta["system_prompt"],)
    scores: dict[str, list[tuple[str, AnswerScore]]] = {"raw": [], "guarded": []}
    for rec in records:
        raw = score_answer(rec["answer"], rec["lang"], rec["key_terms"], prompts)
        scores["raw"].append((rec["lang"], raw))
        rec["raw"] = raw.to_dict()
        if guard_cls is not None:
            pieces = rec.get("pieces") or [rec["answer"]]
            outcome, guarded = _guarded(guard_cls, pieces, rec["lang"], meta["system_prompt"], rec["hit_limit"])
            g = score_answer(guarded, rec["lang"], rec["key_terms"], prompts)
            scores["guarded"].append((rec["lang"], g))
            rec.update(guard_outcome=outcome, guarded_answer=guarded, guarded=g.to_dict())
    n = len(records)
    tokens = sum(r["tokens"] for r in records)
    seconds = sum(r["total_s"] for r in records)
    decode_s = sum(r["total_s"] - r["first_piece_s"] for r in records)
    out: dict[str, Any] = {
        **meta,
        "questions": n,
        "raw": summarize(scores["raw"]),
        "tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1) if seconds else 0.0,
        "decode_tokens_per_s": round(tokens / decode_s, 1) if decode_s else 0.0,
        "mean_answer_s": round(seconds / n, 2) if n else 0.0,
        "hit_limit_rate": round(sum(r["hit_limit"] for r in records) / n, 3) if n else 0.0,
        "response_stops": sum(bool(r.get("response_stopped")) for r in records),
        "records": records,
    }
    if guard_cls is not None:
        out["guarded"] = summarize(scores["guarded"])
        outcomes = [r["guard_outcome"] for r in records]
        out["guard_outcomes"] = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    return out


def rescore(saved: dict[str, Any], questions: list[dict[str, Any]]) -> dict[str, Any]:
    """A saved --json run scored again with today's scorer, guard and key terms (matched by question id)."""
    terms = {q["id"]: q["key_terms"] for q in questions if "id" in q}
    records = [{**r, "key_terms": terms.get(r["id"], r["key_terms"])} for r in saved["records"]]
    meta = {k: saved[k] for k in ("model", "model_id", "system_prompt", "max_tokens")}
    res = score_run(records, meta)
    res["peak_rss_mb"] = saved.get("peak_rss_mb", "-")
    return res


def _criteria_line(score: dict[str, Any]) -> str:
    from runtime.answer_score import CRITERIA

    parts = []
    for c in CRITERIA:
        extra = ""
        if c == "language":
            extra = f" ({score['answer_lang']})"
        elif c == "key_terms" and score["missing"]:
            extra = f" (missing: {', '.join(score['missing'])})"
        parts.append(f"{c} {'yes' if score[c] else 'NO'}{extra}")
    return " · ".join(parts)


def markdown_report(res: dict[str, Any]) -> str:
    """Every question, its answer and each criterion, readable as it is."""
    from runtime.answer_score import summary_table

    lines = [
        f"# Answer benchmark: {res['model']}",
        "",
        f"`{res['model_id']}`, max {res['max_tokens']} tokens, {res['questions']} questions; "
        f"{res['tokens_per_s']} tokens/s end to end ({res['decode_tokens_per_s']} decoding), "
        f"{res['mean_answer_s']} s per answer, {res['hit_limit_rate']:.0%} stopped by the token limit, "
        f"peak RSS {res.get('peak_rss_mb', '-')} MB.",
        "",
        f"System prompt: {res['system_prompt']}",
        "",
        "## Raw answers",
        "",
        summary_table(res["raw"]),
        "",
    ]
    if "guarded" in res:
        lines += [
            "## Through runtime.answer_guard (a fallback posts no answer: not usable)",
            "",
            summary_table(res["guarded"]),
            "",
            f"Guard outcomes: {res['guard_outcomes']}",
            "",
        ]
    lines += ["## Answers", ""]
    for r in res["records"]:
        verdict = "usable" if r["raw"]["usable"] else "NOT usable"
        lines += [
            f"### {r['id']} ({r['topic']}) — {verdict}",
            "",
            f"**Q:** {r['question']}",
            "",
            "````text",
            r["answer"],
            "````",
            "",
            f"{_criteria_line(r['raw'])} · {r['tokens']} tokens in {r['total_s']} s"
            + (" (stopped by the limit)" if r["hit_limit"] else ""),
            "",
        ]
        if "guarded" in r:
            lines += [
                f"Through the guard ({r['guard_outcome']}):",
                "",
                "````text",
                r["guarded_answer"],
                "````",
                "",
                _criteria_line(r["guarded"]),
                "",
            ]
    return "\n".join(lines)


@click.command(name="eval-answers")
@click.option("--model", "model", default=None, help="answer model: backbone name or GGUF (default: the served one)")
@click.option("--data", default=None, help="questions JSONL (default training/data/answers/questions.jsonl)")
@click.option("--out", default=None, help="per-question report, .md or .jsonl (default var/eval-answers/MODEL.md)")
@click.option("--json", "json_out", default=None, help="write the summary and every record as JSON here")
@click.option("--max-tokens", type=int, default=128, show_default=True)
@click.option("--limit", type=int, default=None, help="only the first N questions of each language")
@click.option("--rescore", "rescore_json", default=None, help="score a saved --json run again (no model is loaded)")
@click.pass_obj
def eval_answers(
    state: CliState,
    model: str | None,
    data: str | None,
    out: str | None,
    json_out: str | None,
    max_tokens: int,
    limit: int | None,
    rescore_json: str | None,
) -> None:
    """Answer the benchmark's work questions (half ja, half en) and score each answer: in the asker's
    language, no echo of the system prompt, no loop, not cut off, key terms present (usable = all)."""
    from runtime.answer_score import summary_table

    try:
        questions = load_questions(Path(data) if data else QUESTIONS_FILE)
    except ValueError as exc:
        fail(str(exc))
    if limit is not None:
        questions = [q for lang in ("ja", "en") for q in [r for r in questions if r["lang"] == lang][:limit]]
    if rescore_json:
        try:
            res = rescore(json.loads(Path(rescore_json).read_text(encoding="utf-8")), questions)
        except (OSError, ValueError, KeyError) as exc:
            fail(f"cannot re-score {rescore_json}: {exc} (pass a file written by --json)")
    else:
        res = run_answers(_answer_runtime(state, model, max_tokens), questions, max_tokens)
        res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    click.echo(f"{res['model']} ({res['questions']} questions, max {res['max_tokens']} tokens)")
    click.echo(summary_table(res["raw"]))
    if "guarded" in res:
        click.echo("through runtime.answer_guard (a fallback counts as not usable):")
        click.echo(summary_table(res["guarded"]))
        click.echo(f"guard outcomes: {res['guard_outcomes']}")
    keys = ("tokens_per_s", "decode_tokens_per_s", "mean_answer_s", "hit_limit_rate", "response_stops", "peak_rss_mb")
    for k in keys:
        click.echo(f"{k:22s} {res.get(k, '-')}")
    report = Path(out) if out else REPORT_DIR / f"{res['model']}.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    if report.suffix == ".jsonl":
        rows = [{k: v for k, v in r.items() if k != "pieces"} for r in res["records"]]
        report.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        report.write_text(markdown_report(res), encoding="utf-8")
    click.echo(f"wrote {report}")
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")


def register(group: click.Group) -> None:
    group.add_command(eval_answers)
