"""`so8t kb`: index the knowledge folders into the store, search them, show what is indexed, benchmark."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from cli.common import DB_HELP, db_path, fail


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def register(group: click.Group) -> None:
    """Add the `kb` command group to `group`."""

    @group.group(name="kb")
    def kb() -> None:
        """The team's documents (knowledge: folders) that answers retrieve and cite."""

    @kb.command(name="index")
    @click.option("--db", default=None, help=DB_HELP)
    @click.option("--watch", is_flag=True, help="keep running and re-index changed files every --interval seconds")
    @click.option("--interval", type=click.FloatRange(1, 86400), default=10.0, show_default=True, help="seconds")
    @click.option("--full", is_flag=True, help="re-read every file, not only the changed ones")
    @click.option(
        "--scheme", type=click.Choice(["bigram", "trigram", "dual"]), default=None, help="FTS scheme (default bigram)"
    )
    @click.pass_obj
    def index_cmd(state: Any, db: str | None, watch: bool, interval: float, full: bool, scheme: str | None) -> None:
        """Index the knowledge folders of the config into the store: only files changed since the last run
        are read; removed files leave the index. A file that cannot be read is skipped with one line."""
        from kb.store import KbError, index

        path = db_path(state, db)
        folders = state.config.knowledge.folders
        if not folders:
            fail(f"{state.config.where}: knowledge.folders is empty: nothing to index")

        def run(first: bool) -> None:
            new: list[str] = []  # skipped files not skipped unchanged before (a watch pass repeats no warning)
            try:
                report = index(path, folders, scheme=scheme, full=full and first, on_warning=new.append)
            except KbError as exc:
                fail(str(exc))
                return
            for message in report.warnings if first else new:
                click.echo(f"so8t: warning: {message}", err=True)
            if first or report.added or report.updated or report.removed or new:
                stamp = time.strftime("%H:%M:%S ") if watch else ""
                click.echo(f"{stamp}{report.summary()} -> {path}")

        run(True)
        if not watch:
            return
        click.echo(f"watching {len(folders)} folder(s) every {interval:g} s (Ctrl-C stops)", err=True)
        try:
            while True:
                time.sleep(interval)
                run(False)
        except KeyboardInterrupt:
            click.echo("stopped", err=True)

    @kb.command(name="search")
    @click.argument("query")
    @click.option("--channel", default=None, help="search as in this channel (default: folders open to every channel)")
    @click.option("-k", "k", type=click.IntRange(1, 50), default=3, show_default=True, help="passages")
    @click.option("--db", default=None, help=DB_HELP)
    @click.option("--prompt", "as_prompt", is_flag=True, help="print the prompt block an answer would be given")
    @click.option("--lang", type=click.Choice(["en", "ja"]), default=None, help="prompt block language")
    @click.option("--json", "as_json", is_flag=True, help="passages as JSON")
    @click.pass_obj
    def search(
        state: Any,
        query: str,
        channel: str | None,
        k: int,
        db: str | None,
        as_prompt: bool,
        lang: str | None,
        as_json: bool,
    ) -> None:
        """The passages an answer to QUERY would cite, best first, and whether they look relevant."""
        from kb.render import render
        from kb.search import RELEVANT_COVERAGE, relevant, retrieve
        from kb.store import stats
        from kb.text import is_japanese

        path = db_path(state, db)
        if not stats(path)["indexed"]:
            fail(f"no knowledge index in {path} (run `so8t kb index`, or pass --db PATH)")
        passages = retrieve(path, query, channel, k)
        found = relevant(passages)
        if as_json:
            rows = [
                {
                    "number": p.number,
                    "title": p.title,
                    "heading": p.heading,
                    "path": p.path,
                    "score": round(p.score, 4),
                    "coverage": round(p.coverage, 4),
                    "text": p.text,
                }
                for p in passages
            ]
            click.echo(json.dumps({"query": query, "relevant": found, "passages": rows}, ensure_ascii=False, indent=2))
            return
        if as_prompt:
            click.echo(render(passages, lang or ("ja" if is_japanese(query) else "en")) or "(no passages)")
            return
        if not passages:
            click.echo("nothing found")
            return
        for p in passages:
            click.echo(f"[{p.number}] {p.source} ({p.path})  score {p.score:.2f}, coverage {p.coverage:.2f}")
            click.echo(f"    {_short(p.text, 240)}")
        best = max(p.coverage for p in passages)
        verdict = "relevant" if found else "nothing relevant"
        click.echo(f"{verdict}: best coverage {best:.2f} (threshold {RELEVANT_COVERAGE})")

    @kb.command(name="stats")
    @click.option("--db", default=None, help=DB_HELP)
    @click.option("--json", "as_json", is_flag=True, help="as JSON")
    @click.pass_obj
    def stats_cmd(state: Any, db: str | None, as_json: bool) -> None:
        """What is indexed: folders (with their channels), documents, chunks, the scheme."""
        from kb.store import folder_key, stats

        path = db_path(state, db)
        info = stats(path)
        indexed = {f["key"] for f in info["folders"]}
        pending = [f.path for f in state.config.knowledge.folders if folder_key(f.path) not in indexed]
        info["not_indexed"] = pending
        if as_json:
            click.echo(json.dumps(info, ensure_ascii=False, indent=2))
            return
        if not info["indexed"]:
            click.echo(f"no knowledge index in {path} (run `so8t kb index`)")
        else:
            click.echo(
                f"{path}: {info['documents']} document(s), {info['chunks']} chunk(s); scheme {info['scheme']}"
                f"{', front-matter keywords' if info['keywords'] else ''}"
            )
            for f in info["folders"]:
                where = ", ".join(f["channels"]) if f["channels"] else "every channel"
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(f["indexed_at"])) if f["indexed_at"] else "-"
                click.echo(
                    f"  {f['path']}: {f['documents']} document(s), {f['chunks']} chunk(s), "
                    f"{f['chars'] / 1000:.0f}k chars; visible in {where}; indexed {when}"
                )
        for p in pending:
            click.echo(f"  {p}: configured, not indexed yet")

    @kb.command(name="eval")
    @click.option("--questions", type=click.Path(exists=True, dir_okay=False), default=None, help="questions JSONL")
    @click.option("--folder", type=click.Path(exists=True, file_okay=False), default=None, help="documents folder")
    @click.option("-k", "k", type=click.IntRange(1, 20), default=3, show_default=True)
    @click.option("--scheme", type=click.Choice(["bigram", "trigram", "dual"]), default="bigram", show_default=True)
    @click.option("--no-keywords", is_flag=True, help="leave front-matter keywords out of the index")
    @click.option("--compare", is_flag=True, help="every scheme, with and without keywords")
    @click.option("--sweep", is_flag=True, help="'nothing relevant' rates for a range of thresholds")
    @click.option(
        "--docs", type=click.IntRange(0, 100000), default=1000, show_default=True, help="index build timing (0: skip)"
    )
    @click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="write the results here")
    def eval_cmd(
        questions: str | None,
        folder: str | None,
        k: int,
        scheme: str,
        no_keywords: bool,
        compare: bool,
        sweep: bool,
        docs: int,
        json_out: str | None,
    ) -> None:
        """Retrieval benchmark on the sample handbook (temporary stores; the bot's store is not touched):
        recall@k per language, "nothing relevant" on unanswerable questions, latency, a 1,000-document build."""
        from bot.config import SAMPLE_HANDBOOK
        from kb import eval as kbeval

        try:
            qs = kbeval.load_questions(questions or kbeval.QUESTIONS)
        except (OSError, ValueError) as exc:
            fail(str(exc))
            return
        source = folder or SAMPLE_HANDBOOK
        runs = (
            [(s, kw) for s in ("bigram", "trigram", "dual") for kw in (False, True)]
            if compare
            else [(scheme, not no_keywords)]
        )
        results: dict[str, Any] = {"questions": len(qs), "runs": []}
        click.echo(
            f"{len(qs)} questions ({sum(1 for q in qs if q.expected)} answerable, "
            f"{sum(1 for q in qs if q.cross)} across languages, {sum(1 for q in qs if not q.expected)} unanswerable)"
        )
        header = (
            f"{'scheme':8} {'keywords':8} {'ja':>5} {'en':>5} {'same':>5} {'ja>en':>6} {'en>ja':>6} {'fact':>5} "
            f"{'none':>5} {'miss':>5} {'p50 ms':>7}"
        )
        click.echo(f"recall@{k} (an expected document in the top {k}); fact: the key fact in their text;")
        click.echo("none: unanswerable said to have nothing relevant; miss: answerable wrongly said so")
        click.echo(header)
        chosen = None  # the run of --scheme / --no-keywords: the one the sweep is about
        for s, kw in runs:
            rep = kbeval.evaluate(source, qs, scheme=s, keywords=kw, k=k)
            g = rep.groups

            def pct(group: str, key: str, g: dict[str, dict[str, float]] = g) -> str:
                value = g.get(group, {}).get(key)
                return "-" if value is None else f"{value:.2f}"

            click.echo(
                f"{s:8} {'on' if kw else 'off':8} {pct('ja', 'recall'):>5} {pct('en', 'recall'):>5} "
                f"{pct('same-language', 'recall'):>5} {pct('ja->en docs', 'recall'):>6} "
                f"{pct('en->ja docs', 'recall'):>6} {pct('all answerable', 'fact'):>5} "
                f"{pct('unanswerable', 'nothing_relevant'):>5} {pct('all answerable', 'missed_relevant'):>5} "
                f"{g['latency_ms']['p50']:>7.2f}"
            )
            results["runs"].append(rep.as_dict())
            if chosen is None or (s, kw) == (scheme, not no_keywords):
                chosen = rep
        if sweep and chosen is not None:
            click.echo(f"threshold sweep ({chosen.scheme}, keywords {'on' if chosen.keywords else 'off'}):")
            table = kbeval.sweep(chosen.rows, [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6])
            for row in table:
                click.echo(
                    f"  coverage >= {row['threshold']:.2f}: none {row['nothing_relevant']:.2f}, "
                    f"miss {row['missed_relevant']:.2f} (of which the right document was found "
                    f"{row['missed_with_hit']:.2f})"
                )
            results["sweep"] = table
        if docs:
            click.echo(f"building an index of {docs} synthetic documents (copies of the handbook pages) ...", err=True)
            t = kbeval.build_timing(source, docs, scheme=scheme, questions=qs)
            click.echo(
                f"index build, {t.documents} documents / {t.chunks} chunks: {t.full_s:.2f} s; unchanged re-run "
                f"{t.unchanged_s:.2f} s; 10 changed + 5 removed {t.changed_s:.2f} s; "
                f"query p50 {t.query_p50_ms:.2f} ms; store {t.db_mb:.1f} MB"
            )
            results["build"] = t.__dict__
        if json_out:
            Path(json_out).parent.mkdir(parents=True, exist_ok=True)
            Path(json_out).write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
            click.echo(f"wrote {json_out}", err=True)
        sys.stdout.flush()

    @kb.command(name="eval-answers")
    @click.option("--out", default="var/kb/answers.md", show_default=True, help="every question and answer, readable")
    @click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="write the results here")
    @click.option("--max-tokens", type=click.IntRange(16, 1024), default=160, show_default=True)
    @click.option(
        "--replay",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="score the model's answers of an earlier --json run again (no model is loaded)",
    )
    @click.pass_obj
    def eval_answers_cmd(state: Any, out: str, json_out: str | None, max_tokens: int, replay: str | None) -> None:
        """Grounded answers to the handbook questions by the served answering model (a temporary index of
        the sample handbook): key fact in the answer, from a given passage, a source cited, and "not found"
        for the questions the handbook cannot answer; the model's answer and the posted one after the grounding
        check (fallback: the share replaced by the passages' own sentences)."""
        import tempfile

        from bot.config import SAMPLE_HANDBOOK, KnowledgeFolder
        from kb.answers import dump, evaluate_answers, load_replay, rows_json, write_answers
        from kb.store import index
        from runtime.errors import RuntimeLoadError
        from runtime.loader import load_runtime

        answers = None
        model_id = ""
        if replay:
            answers = load_replay(Path(replay))
            model_id = str(json.loads(Path(replay).read_text(encoding="utf-8")).get("model") or "")
            answerer: Any = None
        else:
            try:
                rt = load_runtime(state.config.model)
            except RuntimeLoadError as exc:
                fail(str(exc))
                return
            answerer, model_id = getattr(rt, "answerer", rt), rt.model_id
        folders = (KnowledgeFolder(SAMPLE_HANDBOOK),)
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "kb.db"
            index(store, folders)
            rows, summary = evaluate_answers(answerer, store, folders, max_tokens=max_tokens, replay=answers)
        write_answers(rows, Path(out))
        click.echo("model: the model's answer; posted: after the grounding check (kb/grounding.py), which posts the")
        click.echo("passages' own sentences instead when the answer states a number or name they lack (fallback)")
        for group, m in summary.items():
            click.echo(
                f"{group:4s} answerable {m['answerable']}: model grounded {m['grounded']}, faithful {m['faithful']}, "
                f"cites {m['cites']} | posted grounded {m['posted_grounded']}, faithful {m['posted_faithful']}, "
                f"cites {m['posted_cites']}, fallback {m['fallback']} | not found {m['answerable_not_found']} | "
                f"unanswerable {m['unanswerable']}: not found {m['unanswerable_not_found']}"
            )
        click.echo(f"wrote {out}")
        if json_out:
            dump({"summary": summary, "rows": rows_json(rows), "model": model_id}, Path(json_out))
