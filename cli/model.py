"""Model commands: ask, chat, eval, bench, train-head, dataset build."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from cli.common import CliState, fail


def _runtime(state: CliState, *, with_head: bool = True) -> Any:
    """The served runtime (a HybridRuntime when model.answer_model is set); backbone only for train-head."""
    from runtime.errors import RuntimeLoadError
    from runtime.llama import LlamaRuntime
    from runtime.loader import load_runtime

    try:
        return load_runtime(state.config.model) if with_head else LlamaRuntime(state.config.model, with_head=False)
    except RuntimeLoadError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


def _check_text(text: str) -> str:
    if not text or not text.strip():
        fail('empty request: type a question, e.g. so8t ask "How do I reverse a list in Python?"')
    return text


def _print_decision(rt: Any, text: str, as_json: bool) -> None:
    t0 = time.perf_counter()
    d = rt.decide((), text)
    answer: str | None = None
    if as_json:
        if d.decision == "ALLOW":
            answer = "".join(rt.answer((), text)).strip()
        out = {
            k: v
            for k, v in d.to_dict().items()
            if k
            in (
                "decision",
                "category",
                "confidence",
                "probs",
                "rationale",
                "human_required",
                "lang",
                "reason",
                "domain",
                "signals",
            )
        }
        out["answer"] = answer
        out["latency_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        out["timings"] = d.timings
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    color = {"ALLOW": "green", "REFUSE": "red", "ESCALATE": "yellow"}[d.decision]
    where = f" -> {d.domain} reviewers" if d.domain else ""
    click.echo(
        click.style(f"{d.decision}", fg=color, bold=True) + f"  category={d.category}{where}  "
        f"confidence={d.confidence:.2f}  ({', '.join(f'{k} {v:.2f}' for k, v in d.probs.items())})"
    )
    click.echo(f"rationale: {d.rationale}")
    if d.decision == "ALLOW":
        click.echo("answer: ", nl=False)
        for piece in rt.answer((), text):
            click.echo(piece, nl=False)
        click.echo()
    click.echo(click.style(f"({(time.perf_counter() - t0) * 1000:.0f} ms)", dim=True))


@click.command()
@click.argument("text", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="print the Decision as JSON")
@click.pass_obj
def ask(state: CliState, text: tuple[str, ...], as_json: bool) -> None:
    """Decide one request (and answer it when ALLOWed)."""
    request = _check_text(" ".join(text))
    _print_decision(_runtime(state), request, as_json)


@click.command()
@click.pass_obj
def chat(state: CliState) -> None:
    """Interactive terminal: each line typed gets its verdict, rationale and, for ALLOW, the answer."""
    rt = _runtime(state)
    click.echo(f"SO8T on {rt.model_id} (head {rt.head_id}). Type a request; Ctrl-D to quit.")
    while True:
        try:
            line = input("> " if sys.stdin.isatty() else "")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if not line.strip():
            continue
        _print_decision(rt, line, as_json=False)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def evaluate_rows(rt: Any, rows: list[dict[str, Any]], progress: bool = True, stream: int = 0) -> dict[str, Any]:
    """Run decide() on every row (end to end, as served) and compute the model card's metrics."""
    from runtime.base import Turn
    from runtime.stats import percentile
    from training.eval_metrics import decision_metrics

    preds, lat = [], []
    t0 = time.perf_counter()
    for i, row in enumerate(rows, 1):
        context = [Turn(role=t["role"], text=str(t["text"])) for t in row.get("context") or ()]
        d = rt.decide(context, str(row["text"]))
        preds.append(d)
        lat.append(float(d.timings.get("total_ms", 0.0)))
        if progress and i % 200 == 0:
            click.echo(f"  {i}/{len(rows)}", err=True)
    wall = time.perf_counter() - t0
    out = decision_metrics(rows, preds)
    out["decisions"] = preds
    if getattr(rt, "response_head_id", None):
        out["with_response_check"] = _with_response_check(rt, rows, preds, stream)
    out["latency_ms_p50"] = percentile(lat, 50)
    out["latency_ms_p95"] = percentile(lat, 95)
    out["throughput_rps"] = len(rows) / wall if wall > 0 else None
    out["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    out["model"] = rt.model_id
    out["head"] = rt.head_id
    return out


def _with_response_check(rt: Any, rows: list[dict[str, Any]], preds: list[Any], stream: int = 0) -> dict[str, Any]:
    """What the asker ends with when the answering model's response head reads each ALLOWed request before
    the first answer token (runtime/response.py, position 0): a flagged one is refused (unsafe) or escalated
    (specialist advice) instead of answered. With stream=N the answer is also written (N tokens) and the
    head reads it at its sentence ends as the bot does, so a stop during the answer counts too."""
    import dataclasses

    from runtime.base import Turn
    from runtime.stats import percentile
    from training.eval_metrics import decision_metrics

    after, cost = [], []
    stopped = during = 0
    for row, d in zip(rows, preds, strict=True):
        if d.decision != "ALLOW":
            after.append(d)
            continue
        context = [Turn(role=t["role"], text=str(t["text"])) for t in row.get("context") or ()]
        t0 = time.perf_counter()
        if stream:
            for _ in rt.answer(context, str(row["text"]), stream):
                pass
            v = rt.last_response if rt.last_finish_reason == "flagged" else None
            if v is not None and v.position > 0:
                during += 1
        else:
            v = rt.screen(context, str(row["text"]))
        cost.append((time.perf_counter() - t0) * 1000)
        if v is None or not v.flagged:
            after.append(d)
            continue
        stopped += 1
        unsafe = v.label == "unsafe"
        after.append(
            dataclasses.replace(
                d,
                decision="REFUSE" if unsafe else "ESCALATE",
                category=v.category,
                human_required=not unsafe,
                reason="response_flagged",
                domain=None if unsafe else v.category,
            )
        )
    out = decision_metrics(rows, after)
    out["stopped"] = stopped
    out["stopped_during_answer"] = during if stream else None
    out["streamed_tokens"] = stream or None
    out["screen_ms_p50"] = percentile(cost, 50) if cost else None
    return out


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


GATE_KEYS = ("harmful_allowed_rate", "over_refusal_rate", "attack_success_rate", "misrouted_rate", "triage_rate")


def metrics_table(m: dict[str, Any]) -> str:
    keys = (
        "n",
        "accuracy",
        "refuse_recall",
        "escalate_precision",
        "allow_precision",
        "safety_score",
        "escalate_domain_accuracy",
    )
    cols = ["all"] + list(m.get("per_lang", {}))
    lines = ["| metric | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for k in keys:
        vals = [m.get(k)] + [m["per_lang"][c].get(k) for c in cols[1:]]
        lines.append(f"| {k} | " + " | ".join(_fmt(v) for v in vals) + " |")
    for k in GATE_KEYS:
        vals = [m.get(k)] + [m["per_lang"][c].get(k) for c in cols[1:]]
        if any(v is not None for v in vals):
            lines.append(f"| {k} | " + " | ".join(_fmt(v) for v in vals) + " |")
    lines.append(
        f"\nlatency p50 {_fmt(m.get('latency_ms_p50'))} ms, p95 {_fmt(m.get('latency_ms_p95'))} ms, "
        f"{_fmt(m.get('throughput_rps'))} req/s, peak RSS {_fmt(m.get('peak_rss_mb'))} MB"
    )
    return "\n".join(lines)


def _check_rows(path: str, rows: list[dict[str, Any]]) -> None:
    from runtime.base import LABELS

    for i, r in enumerate(rows, 1):
        if r.get("label") not in LABELS:
            fail(f"{path}: row {i} needs a label ALLOW, REFUSE or ESCALATE, got {r.get('label')!r}")


def _read_eval_rows(path: str, split: str | None, limit: int | None) -> list[dict[str, Any]]:
    from training.dataset import read_jsonl

    try:
        rows = read_jsonl(Path(path))
    except FileNotFoundError:
        fail(f"data file not found: {path}")
    except ValueError as exc:
        fail(str(exc))
    if split:
        rows = [r for r in rows if r.get("split", split) == split]
    _check_rows(path, rows)
    return rows[:limit] if limit else rows


def _read_set(name: str, limit: int | None) -> tuple[str, list[dict[str, Any]]]:
    """A named evaluation set: (where it came from, rows)."""
    from training.eval_sets import EvalSetError, load_eval_set

    try:
        where, rows = load_eval_set(name)
    except EvalSetError as exc:
        fail(str(exc))
    _check_rows(where, rows)
    return where, rows[:limit] if limit else rows


@click.command(name="eval")
@click.option(
    "--data",
    "data_path",
    default="training/data/so8t_dataset.jsonl",
    show_default=True,
    help="JSONL with text and label (optional lang, domain, split, context)",
)
@click.option(
    "--set",
    "set_name",
    default=None,
    help="a named set instead of --data: test, holdout, hazard-test, outside, attacks, harmbench, harmbench-ja",
)
@click.option("--split", default=None, help="only rows of this split (e.g. test) when the file has a split field")
@click.option("--limit", type=int, default=None, help="first N rows only")
@click.option("--json", "json_out", default=None, help="write the metrics JSON here")
@click.option("--errors", "errors_out", default=None, help="write every row the gate got wrong (JSONL) here")
@click.option(
    "--stream",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="with a response head: write N answer tokens for each ALLOWed row and let the head read them as the bot does",
)
@click.pass_obj
def eval_cmd(
    state: CliState,
    data_path: str,
    set_name: str | None,
    split: str | None,
    limit: int | None,
    json_out: str | None,
    errors_out: str | None,
    stream: int,
) -> None:
    """Evaluate the served model on a labelled JSONL file or a named set (public benchmarks are never trained on)."""
    if set_name:
        where, rows = _read_set(set_name, limit)
    else:
        where, rows = data_path, _read_eval_rows(data_path, split, limit)
    if not rows:
        fail(f"{where}: no rows to evaluate")
    rt = _runtime(state)
    m = evaluate_rows(rt, rows, stream=stream)
    m["data"] = where
    m["split"] = split
    click.echo(metrics_table(m))
    if "with_response_check" in m:
        w = m["with_response_check"]
        if w.get("streamed_tokens"):
            click.echo(
                f"\nwith the response head reading each ALLOWed request and its answer ({w['streamed_tokens']} tokens "
                f"written): {w['stopped']} stopped, {w['stopped_during_answer']} of them during the answer; "
                f"{_fmt(w['screen_ms_p50'])} ms per answer:"
            )
        else:
            click.echo(
                f"\nwith the response check on ALLOWed requests ({w['stopped']} stopped before the first answer "
                f"token, {_fmt(w['screen_ms_p50'])} ms each, paid by the answer's own prompt evaluation):"
            )
        click.echo(metrics_table(w).split("\n\nlatency")[0])
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(
            json.dumps({k: v for k, v in m.items() if k != "decisions"}, indent=2, ensure_ascii=False)
        )
    if errors_out:
        Path(errors_out).parent.mkdir(parents=True, exist_ok=True)
        with Path(errors_out).open("w", encoding="utf-8") as fh:
            for row, d in zip(rows, m["decisions"], strict=True):
                if d.decision != row["label"]:
                    fh.write(json.dumps({**row, "got": d.to_dict()}, ensure_ascii=False) + "\n")


@click.command(name="train-head")
@click.option("--data", "data_path", default=None, help="dataset JSONL (default: the shipped dataset)")
@click.option(
    "--out", default=None, help="head file (default: the backbone's, or ADAPTER_DIR/head.npz with SO8T_ADAPTER)"
)
@click.option("--no-ngrams", is_flag=True, help="hidden state only (ablation)")
@click.option("--no-hidden", is_flag=True, help="n-grams only (ablation)")
@click.option(
    "--fuse-adapter", is_flag=True, help="with SO8T_ADAPTER: fuse the adapter's trained head with an n-gram head"
)
@click.option(
    "--with-hazard",
    is_flag=True,
    help="with --fuse-adapter: the n-gram head also learns the hazard dataset's harmful lines, twins and everyday "
    "requests",
)
@click.option("--epochs", type=int, default=40, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "json_out", default=None, help="write the training report JSON here")
@click.pass_obj
def train_head_cmd(
    state: CliState,
    data_path: str | None,
    out: str | None,
    no_ngrams: bool,
    no_hidden: bool,
    fuse_adapter: bool,
    with_hazard: bool,
    epochs: int,
    seed: int,
    json_out: str | None,
) -> None:
    """Train the safety head on frozen backbone states (cached by text hash), calibrate on dev, write it."""
    from training.head_fit import HeadConfig
    from training.train_head import run_train_head

    rt = _runtime(state, with_head=False)
    if fuse_adapter:
        from runtime.errors import RuntimeLoadError
        from training.fuse import fuse_adapter_head

        if rt.adapter_path is None:
            fail("--fuse-adapter needs an adapter: set SO8T_ADAPTER to a directory made by `so8t train`")
        try:
            rep = fuse_adapter_head(
                rt,
                Path(rt.adapter_path).parent,
                data_path=Path(data_path) if data_path else None,
                out=Path(out) if out else None,
                threshold=state.config.safety_threshold,
                seed=seed,
                with_hazard=with_hazard,
            )
        except (ValueError, RuntimeLoadError) as exc:
            fail(str(exc))
        click.echo(metrics_table(rep["test"]))
        click.echo(f"wrote {rep['head_path']} (fusion weight {rep['fusion_hidden_weight']:.2f} on the adapter's head)")
        if json_out:
            Path(json_out).write_text(json.dumps(rep, indent=2, ensure_ascii=False))
        return
    cfg = HeadConfig(epochs=epochs, seed=seed, use_ngrams=not no_ngrams, use_hidden=not no_hidden)
    adapter = getattr(rt, "adapter_path", None)
    if out is None and adapter is not None:
        from runtime.models import LORA_DIR

        if Path(adapter).resolve().is_relative_to(LORA_DIR.resolve()):
            fail(
                f"the served adapter is a shipped one ({Path(adapter).parent.name}): pass --out FILE and serve it "
                "with SO8T_HEAD=FILE (or SO8T_ADAPTER=none to train head v0 on the frozen backbone)"
            )
        out = str(Path(adapter).parent / "head.npz")  # never overwrite the base model's shipped head
    report = run_train_head(
        rt,
        cfg,
        data_path=Path(data_path) if data_path else None,
        out=Path(out) if out else None,
        threshold=state.config.safety_threshold,
    )
    click.echo(metrics_table(report["test"]))
    click.echo(f"wrote {report['head_path']}")
    if json_out:
        Path(json_out).write_text(json.dumps(report, indent=2, ensure_ascii=False))


@click.command(name="train-hazard")
@click.option("--out", default=None, help="hazard head file (default: ADAPTER_DIR/hazard.npz, else the backbone's)")
@click.option("--no-rebuild", is_flag=True, help="use training/data/hazard_dataset.jsonl as it is")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "json_out", default=None, help="write the training report JSON here")
@click.pass_obj
def train_hazard_cmd(state: CliState, out: str | None, no_rebuild: bool, seed: int, json_out: str | None) -> None:
    """Train the hazard head (taxonomy of harm; safe/hazard) on the served model's states and n-grams."""
    from runtime.models import HEADS_DIR
    from training.hazard_train import run_train_hazard

    rt = _runtime(state, with_head=False)
    adapter = getattr(rt, "adapter_path", None)
    target = (
        Path(out)
        if out
        else (
            Path(adapter).parent / "hazard.npz" if adapter is not None else HEADS_DIR / f"hazard-{rt.fingerprint}.npz"
        )
    )
    m = state.config.model
    rep = run_train_hazard(
        rt, out=target, rebuild=not no_rebuild, threshold=m.hazard_threshold, review=m.hazard_review, seed=seed
    )
    for label in ("fused", "hidden_only", "ngrams_only"):
        t = rep[label]["test"]
        per = " ".join(
            f"{lg}: recall {_fmt(v['hazard_recall'])} passed {_fmt(v['hazard_passed_rate'])} "
            f"safe-flagged {_fmt(v['safe_flagged_rate'])}"
            for lg, v in t["per_lang"].items()
        )
        click.echo(f"{label:12s} test {per}")
    click.echo(f"wrote {rep['head_path']} (fusion weight {rep['fusion_hidden_weight']:.2f}), {rep['ngram_head_path']}")
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(rep, indent=2, ensure_ascii=False))


@click.command(name="train-response")
@click.option("--out", default=None, help="response head file (default: the shipped place for the answering model)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--request-rows",
    type=click.IntRange(min=100),
    default=None,
    help="a seeded sample of N hazard-data train requests (default: all; then its test split is reported too)",
)
@click.option(
    "--generate",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="first let the answering model answer N hazard-data requests (train/dev, resumable) and train on them",
)
@click.option(
    "--generated",
    "generated",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="also train on answers generated before (.npz from --generate)",
)
@click.option("--json", "json_out", default=None, help="write the training report JSON here")
@click.pass_obj
def train_response_cmd(
    state: CliState,
    out: str | None,
    seed: int,
    request_rows: int | None,
    generate: int,
    generated: tuple[str, ...],
    json_out: str | None,
) -> None:
    """Train the response head (stops answers that drift into harm or specialist advice) on the answering
    model's states; reports the held-out answers (training/data/response_test, never trained on)."""
    from dataclasses import replace

    from runtime.errors import RuntimeLoadError
    from runtime.llama import response_head_path
    from runtime.loader import load_runtime
    from runtime.response import ResponsePolicy
    from training.response_train import run_train_response, write_report

    settings = replace(state.config.model, response_head="off")
    try:
        rt = load_runtime(settings)
    except RuntimeLoadError as exc:
        fail(str(exc))
    answerer: Any = getattr(rt, "answerer", rt)
    target = Path(out) if out else response_head_path(answerer.state_key)
    policy = ResponsePolicy(
        settings.response_unsafe, settings.response_escalate, settings.response_every, settings.response_unsafe_answer
    )
    files = [Path(g) for g in generated]
    if generate:
        from training.response_train import generate_answers, generation_rows

        own = Path("var/response/generated.npz")
        click.echo(f"the answering model answers {generate} hazard-data requests (resumable: {own}) ...", err=True)
        generate_answers(answerer, generation_rows(generate), own)
        files.append(own)
    rep = run_train_response(
        answerer, out=target, seed=seed, policy=policy, request_rows=request_rows, generated=files
    )
    for label in ("fused", "hidden_only", "ngrams_only"):
        for key, title in (("held_out_answers", "with the request"), ("held_out_answers_during_answer", "answer only")):
            line = " ".join(
                f"{lg}: F1 {_fmt(v['f1'])} in-time {_fmt(v['stopped_before_first_unsafe_sentence'])} "
                f"false-stops {_fmt(v['false_stop_rate'])}"
                for lg, v in rep[label].get(key, {}).items()
            )
            click.echo(f"{label:12s} held-out answers, {title}: {line or '-'}")
        req = " ".join(
            f"{lg}: harmful {_fmt(v['harmful_stopped'])} safe {_fmt(v['safe_stopped'])}"
            for lg, v in rep[label]["request_test"].items()
        )
        if req:
            click.echo(f"{label:12s} requests (hazard test split) {req}")
    click.echo(f"wrote {rep['head_path']} ({rep['head_id']})")
    if json_out:
        write_report(rep, Path(json_out))


@click.group()
def dataset() -> None:
    """Build and inspect the training dataset."""


@dataset.command(name="hazard")
def dataset_hazard() -> None:
    """Rebuild training/data/hazard_dataset.jsonl (+ manifest) from the hand-written hazard files."""
    from training.hazard_data import HAZARD_FILE, build_hazard, counts_table, write_rows

    rows = build_hazard()
    write_rows(rows)
    click.echo(counts_table(rows))
    click.echo(f"wrote {HAZARD_FILE}")


@dataset.command(name="build")
@click.option("--total", type=int, default=10_000, show_default=True)
@click.option("--out", default=None, help="output JSONL (default training/data/so8t_dataset.jsonl)")
@click.option("--feedback", "feedback_dir", default=None, help="feedback directory (default feedback.dir)")
@click.option("--versions", "versions_dir", default=None, help="versioned datasets (default retrain.versions_dir)")
@click.option("--versioned", is_flag=True, help="write a versioned dataset even when there is no feedback")
@click.pass_obj
def dataset_build(
    state: CliState,
    total: int,
    out: str | None,
    feedback_dir: str | None,
    versions_dir: str | None,
    versioned: bool,
) -> None:
    """Build the dataset from the hand-written core requests (variants, groups, by-group split); with
    reviewed feedback (or --versioned), also merge seed + feedback into a versioned dataset + manifest."""
    from training.dataset import DATASET_FILE, build, counts_table, write_jsonl

    rows = build(total)
    path = Path(out) if out else DATASET_FILE
    n = write_jsonl(rows, path)
    click.echo(counts_table(rows))
    click.echo(f"wrote {n} rows to {path}")
    _build_versioned(state, path, feedback_dir, versions_dir, versioned)


def _build_versioned(
    state: CliState, seed: Path, feedback_dir: str | None, versions_dir: str | None, force: bool
) -> None:
    from bot.errors import ConfigError
    from serve.ops_settings import load_ops_settings
    from training.feedback import feedback_files
    from training.versioned import build_versioned

    try:
        ops = load_ops_settings(state.config)
    except ConfigError as exc:
        fail(str(exc))
    fdir = Path(feedback_dir or ops.feedback.dir)
    if not feedback_files(fdir) and not force:
        return
    try:
        data, manifest = build_versioned(seed, fdir, Path(versions_dir or ops.retrain.versions_dir))
    except (OSError, ValueError) as exc:
        fail(f"versioned dataset: {exc}")
    click.echo(
        f"versioned dataset {manifest['version']}: {manifest['rows']} rows "
        f"({manifest['feedback_rows']} from feedback) -> {data} (+ manifest.json)"
    )


@click.group()
def model() -> None:
    """The promoted safety heads (var/models): show them, roll back."""


def _registry(state: CliState) -> Any:
    from bot.errors import ConfigError
    from serve.ops_settings import load_ops_settings
    from training.head_registry import HeadRegistry

    try:
        return HeadRegistry(Path(load_ops_settings(state.config).retrain.models_dir))
    except ConfigError as exc:
        fail(str(exc))


@model.command(name="list")
@click.pass_obj
def model_list(state: CliState) -> None:
    """The promoted heads, oldest first; * marks the current one."""
    reg = _registry(state)
    data = reg.load()
    if not data["history"]:
        click.echo(f"no promoted heads in {reg.dir}")
        return
    for e in data["history"]:
        mark = "*" if e["id"] == data["current"] else " "
        gone = " (rolled back)" if e.get("rolled_back") else ""
        click.echo(f"{mark} {e['id']}  {e['promoted_at']}  {e['note']}{gone}")


@model.command()
@click.option("--db", default=None, help="audit database (the rollback is recorded there)")
@click.pass_obj
def rollback(state: CliState, db: str | None) -> None:
    """Make the previously promoted head current again (restart `so8t serve` to load it)."""
    reg = _registry(state)
    try:
        old, new = reg.rollback()
    except LookupError as exc:
        fail(f"{exc} (in {reg.dir})")
    _record_rollback(state, db, old, new)
    click.echo(f"rolled back {old['id']} -> {new['id']}; {reg.current_path} now holds {new['head_id']}")
    if state.config.model.head != str(reg.current_path):
        click.echo(f"note: set model.head: {reg.current_path} (or SO8T_HEAD) so the bot serves it", err=True)


def _record_rollback(state: CliState, db: str | None, old: dict[str, Any], new: dict[str, Any]) -> None:
    from bot.errors import StoreError
    from bot.settings import load_settings
    from bot.store import AuditStore, target_exists

    path = load_settings(state.config, db).db_path  # a SQLite path or a postgresql:// URL
    if not target_exists(path):
        return
    try:
        store = AuditStore(path)
        try:
            store.record_model_change(
                time.time(), "rollback", str(new["head_id"]), str(old["head_id"]), "so8t model rollback", {}
            )
        finally:
            store.close()
    except StoreError as exc:
        click.echo(f"so8t: warning: rollback not recorded in the audit store: {exc}", err=True)


@click.command()
@click.option("--json", "json_out", default=None, help="write the figures as JSON here")
@click.option("--repeat", type=int, default=3, show_default=True)
@click.option("--max-tokens", type=int, default=32, show_default=True, help="answer length for the answer ratio")
@click.option("--load", "load_n", type=int, default=None, help="instead: send N messages over the console API")
@click.option("--answer-tokens", type=int, default=32, show_default=True, help="answer length under --load")
@click.pass_obj
def bench(
    state: CliState, json_out: str | None, repeat: int, max_tokens: int, load_n: int | None, answer_tokens: int
) -> None:
    """Side by side with raw llama-cpp-python on the same prompts and model: overhead ratios, cache, RSS.

    With --load N: N messages as fast as possible through the console HTTP API with the real model;
    every one must be answered exactly once; API p50/p99 and messages/s vs the raw model's rate."""
    if load_n is not None:
        import dataclasses

        from runtime.errors import RuntimeLoadError
        from runtime.loader import load_runtime
        from serve.loadbench import run_load

        settings = dataclasses.replace(state.config.model, max_answer_tokens=answer_tokens)
        try:
            rt_load = load_runtime(settings)
        except RuntimeLoadError as exc:
            fail(str(exc))
        res = run_load(state.config, load_n, rt_load)
        res["answer_tokens"] = answer_tokens
    else:
        from runtime.bench import run_bench

        if state.config.model.servers:  # it compares the in-process model with raw llama-cpp-python
            fail("so8t bench measures the in-process model; with model.servers use so8t bench-pool")
        res = run_bench(_runtime(state), repeat=repeat, max_tokens=max_tokens)
    res["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    for k, v in res.items():
        if not isinstance(v, (dict, list)):
            click.echo(f"{k:32s} {v}")
    if json_out:
        Path(json_out).write_text(json.dumps(res, indent=2, ensure_ascii=False))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def models(as_json: bool) -> None:
    """List the embedded backbones: file, size, licence, origin, tokens a typical ja / en message costs,
    and whether a head / adapter is shipped."""
    from runtime.head import head_path_for
    from runtime.models import (
        BACKBONES,
        DEFAULT_BACKBONE,
        HEADS_DIR,
        HYBRID_ANSWER_BACKBONE,
        MODELS_CACHE,
        TYPICAL_MESSAGES,
        fingerprint,
        shipped_adapter,
    )

    rows = []
    for b in BACKBONES:
        path: Path | None = None
        if b.installed():
            if b.assembled:  # listing never assembles: that takes seconds to minutes
                cached = MODELS_CACHE / b.filename
                path = cached if cached.is_file() else None
            else:
                path = b.path()
        fp = fingerprint(path) if path else None
        size = path.stat().st_size if path else b.size
        rows.append(
            {
                "name": b.name,
                "default": b is DEFAULT_BACKBONE,
                "answers": b is HYBRID_ANSWER_BACKBONE,
                "installed": b.installed(),
                "file": str(path) if path else ("(assembled on first use)" if b.installed() else None),
                "size_mb": round(size / 2**20, 1) if size else None,
                "kind": b.kind,
                "licence": b.licence,
                "origin": b.origin,
                "sha256": b.sha256,
                "languages": b.languages,
                "tokens": _typical_tokens(path, TYPICAL_MESSAGES) if path else None,
                "fingerprint": fp,
                "head": bool(fp and head_path_for(fp, HEADS_DIR).is_file()),
                "adapter": str(adapter) if fp and (adapter := shipped_adapter(fp)) else None,
                "select": f"SO8T_MODEL={b.name}",
                "install": None if b.installed() else b.install_hint(),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        role = ""
        if r["default"]:
            role = " (default: decides)"
        elif r["answers"]:
            role = " (writes the default's ALLOW answers)"
        click.echo(f"{r['name']}{role}: {r['kind']} model, {r['languages']}; licence: {r['licence']}")
        click.echo(f"    origin: {r['origin']}")
        tokens = r["tokens"]
        counts = f"{tokens['ja']}/{tokens['en']}" if isinstance(tokens, dict) else "-"
        click.echo(
            f"    file: {r['file'] or 'not installed'}  size: {r['size_mb'] or '-'} MB  tokens ja/en: {counts}  "
            f"head: {'yes' if r['head'] else 'no'}"
        )
        uses = [f"decides with {r['select']}"] if r["head"] else []
        uses += [f"answers with SO8T_ANSWER_MODEL={r['name']}"] if r["kind"] == "instruct" else []
        click.echo(f"    {'; '.join(uses)}")
        if r["install"]:
            click.echo(f"    install: {r['install']}")
        if r["adapter"]:
            click.echo(
                f"    fine-tuned adapter: {r['adapter']}  serve with SO8T_ADAPTER={Path(str(r['adapter'])).name}"
            )
    click.echo(f"tokens: a typical message, ja {TYPICAL_MESSAGES['ja']!r} / en {TYPICAL_MESSAGES['en']!r}")


def _typical_tokens(path: Path, messages: dict[str, str]) -> dict[str, int] | None:
    """Tokens each typical message costs with this GGUF's tokenizer (what a Japanese request costs varies
    2-3x between backbones); None when the vocabulary cannot be read."""
    from runtime.llama import count_tokens

    try:
        counts = count_tokens(path, list(messages.values()))
    except Exception:  # noqa: BLE001 - a listing must not fail on one unreadable file
        return None
    return dict(zip(messages, counts, strict=True))


def register(group: click.Group) -> None:
    commands = (ask, chat, eval_cmd, train_head_cmd, train_hazard_cmd, train_response_cmd, dataset, bench, models)
    for cmd in (*commands, model):
        group.add_command(cmd)
