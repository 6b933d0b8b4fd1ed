"""Bot operation commands (serve, report, audit verify/checkpoint/export, purge): thin wrappers over the library."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from bot.errors import ConfigError, StoreError
from bot.store import AuditStore, describe_target, target_exists
from cli.common import bot_settings, fail


def _open_existing(state: Any, db: str | None) -> AuditStore:
    settings = bot_settings(state, db)
    if not target_exists(settings.db_path):
        fail(f"no audit database at {settings.db_path} (run `so8t serve` first, or pass --db PATH)")
    try:
        return AuditStore(settings.db_path)
    except StoreError as exc:
        fail(str(exc))
        raise  # unreachable


def _time(value: str | None, name: str) -> float | None:
    from bot.commands import parse_time

    if value is None:
        return None
    try:
        return parse_time(value, time.time())
    except ValueError as exc:
        fail(f"--{name}: {exc}")
        raise  # unreachable


def check_port(host: str, port: int) -> None:
    """Bind `host`:`port` as the server will (SO_REUSEADDR, every address the host resolves to) and let
    go at once; raises OSError when it is taken or not ours. Port 0 (any free port) is not checked."""
    import socket

    if port == 0:
        return
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _name, addr in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:  # a family this host lacks (asyncio skips it too)
                continue
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
    finally:
        for sock in socks:
            sock.close()


def preflight(state: Any, settings: Any, host: str | None, port: int | None) -> Any:
    """What `so8t serve` checks before loading the model, so no mistake costs a model load: the config
    (every section), the port, the platform tokens, the store. Fails with one line; returns OpsSettings."""
    from adapters.platforms import check_platforms
    from serve.ops_settings import load_ops_settings

    try:
        ops = load_ops_settings(state.config)
    except ConfigError as exc:
        fail(str(exc))
    where_host = host or settings.console.host
    where_port = settings.console.port if port is None else port
    try:
        check_port(where_host, where_port)
    except OSError as exc:
        fail(f"cannot listen on {where_host}:{where_port}: {exc.strerror or exc}")
    try:
        check_platforms(state.config)
    except ConfigError as exc:
        fail(str(exc))
    try:
        AuditStore(settings.db_path).close()
    except StoreError as exc:
        fail(str(exc))
    return ops


def run_server(app: Any, host: str | None, port: int | None) -> None:
    """Serve until SIGINT/SIGTERM; a port in use is one clear line."""
    from serve.app import serve_forever

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)

        def ready(a: Any) -> None:
            for platform in a.platforms:
                where = ""
                if platform.platform == "slack":  # Socket Mode serves no events URL (it would answer 404)
                    socket = getattr(platform, "socket_mode", False)
                    where = " (Slack: Socket Mode)" if socket else f" (events: {a.url}slack/events)"
                click.echo(f"SO8T {platform.platform}: connected{where}")
            if a.console_enabled:
                click.echo(f"SO8T console: {a.url}  (open it in a browser; Ctrl-C to stop)")
            else:
                click.echo(f"SO8T health: {a.url}healthz  (Ctrl-C to stop)")
            sys.stdout.flush()

        await serve_forever(app, host, port, ready, stop)

    try:
        asyncio.run(main())
    except ConfigError as exc:
        fail(str(exc))
    except OSError as exc:
        where = f"{host or app.settings.console.host}:{app.settings.console.port if port is None else port}"
        fail(f"cannot listen on {where}: {exc.strerror or exc}")


def register(group: click.Group) -> None:
    """Add the operation commands to `group`."""

    @group.command()
    @click.option("--port", type=click.IntRange(0, 65535), default=None, help="console port (default 8765)")
    @click.option("--host", default=None, help="bind address (default 127.0.0.1)")
    @click.option("--db", default=None, help="audit database (default $SO8T_DB, storage.path or var/so8t.db)")
    @click.option("--console", "console", is_flag=True, default=None, help="serve the console alongside Slack/Discord")
    @click.pass_obj
    def serve(state: Any, port: int | None, host: str | None, db: str | None, console: bool | None) -> None:
        """Run the bot: Slack if SLACK_BOT_TOKEN is set, Discord if DISCORD_TOKEN is set (both in one
        process, one model), else the local console web workspace (no tokens needed).

        The config, the port, the platform variables and the store are checked before the model loads."""
        from runtime.errors import RuntimeLoadError
        from serve.app import build_app

        settings = bot_settings(state, db)
        ops = preflight(state, settings, host, port)
        try:
            app = build_app(state.config, db_path=db, settings=settings, console=console or None, ops=ops)
        except (ConfigError, StoreError, RuntimeLoadError) as exc:
            fail(str(exc))
            return
        run_server(app, host, port)

    @group.command()
    @click.option("--week", default=None, help="ISO week, e.g. 2026-W47 (in reports.timezone)")
    @click.option("--since", default=None, help="start (2024-05-01, 2024-05-01T09:00 or 7d)")
    @click.option("--until", default=None, help="end (exclusive)")
    @click.option("--format", "fmt", type=click.Choice(["md", "html", "csv", "json"]), default="md", show_default=True)
    @click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="file (default stdout)")
    @click.option("--db", default=None, help="audit database")
    @click.pass_obj
    def report(
        state: Any, week: str | None, since: str | None, until: str | None, fmt: str, out: str | None, db: str | None
    ) -> None:
        """Requests by verdict, category, language, platform, channel; escalations, agreement, appeals,
        latency, change vs the previous period, versions (Markdown, HTML with charts, CSV or JSON)."""
        from bot.reports import build_report, described_versions, render, week_range
        from serve.ops_settings import load_ops_settings

        try:
            ops = load_ops_settings(state.config)
        except ConfigError as exc:
            fail(str(exc))
            return
        label = ""
        s: float | None
        u: float | None
        if week is not None:
            if since or until:
                fail("--week cannot be combined with --since/--until")
            try:
                s, u = week_range(week, ops.reports.timezone)
            except ValueError as exc:
                fail(f"--week: {exc}")
                return
            label = week.upper()
        else:
            s, u = _time(since, "since"), _time(until, "until")
        from runtime.llama import describe_model

        # what the config serves, read from the files (no model loads); unreadable files: the decisions' ids
        versions = described_versions(describe_model(state.config.model))
        store = _open_existing(state, db)
        try:
            text = render(build_report(store, s, u, label=label, versions=versions), fmt)
        except StoreError as exc:
            fail(str(exc))
            return
        finally:
            store.close()
        if out:
            try:
                Path(out).parent.mkdir(parents=True, exist_ok=True)
                Path(out).write_text(text, encoding="utf-8")
            except OSError as exc:
                fail(f"cannot write {out}: {exc.strerror}")
            click.echo(f"wrote {out}", err=True)
            return
        click.echo(text, nl=False)

    @group.group()
    def jobs() -> None:
        """Scheduled jobs (report, feedback, retrain, audit): list them, or run one now (for cron users)."""

    def _scheduler(state: Any, db: str | None) -> tuple[Any, AuditStore]:
        from adapters.console.adapter import ConsoleAdapter, default_channels
        from adapters.console.workspace import Workspace
        from serve.app import job_context
        from serve.jobs import make_jobs
        from serve.ops_settings import load_ops_settings
        from serve.scheduler import Scheduler

        settings = bot_settings(state, db)
        try:
            ops = load_ops_settings(state.config)
            store = AuditStore(settings.db_path)
        except (ConfigError, StoreError) as exc:
            fail(str(exc))
            raise
        # the console channel lives in the same file: a report posted there shows up in `so8t serve`
        console = ConsoleAdapter(Workspace(settings.db_path, time.time), default_channels())
        ctx = job_context(state.config, settings, ops, store, {"console": console})
        return Scheduler(store, ops.schedule, make_jobs(ctx)), store

    @jobs.command(name="list")
    @click.option("--db", default=None, help="audit database")
    @click.pass_obj
    def jobs_list(state: Any, db: str | None) -> None:
        """Each job: schedule, last run (start, end, outcome) and next run."""
        sched, store = _scheduler(state, db)

        def when(ts: float | None) -> str:
            return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "-"

        try:
            for j in sched.status():
                where = f"{j['cron']} ({j['timezone']})" if j["enabled"] else "off"
                last = (
                    f"{when(j['last_started'])} -> {when(j['last_ended'])} {j['last_outcome']}"
                    if j["last_started"]
                    else "never"
                )
                click.echo(f"{j['name']:9s} {where:32s} last: {last}  next: {when(j['next'])}")
                if j["last_summary"]:
                    click.echo(f"          {j['last_summary']}")
        finally:
            store.close()

    @group.command(name="status")
    @click.option("--db", default=None, help="audit database")
    @click.option("--json", "as_json", is_flag=True, help="one JSON object")
    @click.pass_obj
    def status_cmd(state: Any, db: str | None, as_json: bool) -> None:
        """What `/so8t status` shows in chat, from the shell: model, adapter, heads, store, open cases,
        scheduled jobs (last and next runs). Loads no model (ids come from the files and the heads'
        metadata) and needs no platform tokens; the request queue lives inside `so8t serve` (/healthz)."""
        from bot.status import job_line
        from runtime.llama import describe_model
        from serve.ops_settings import load_ops_settings

        settings = bot_settings(state, db)
        try:
            ops = load_ops_settings(state.config)
        except ConfigError as exc:
            fail(str(exc))
            return
        info: dict[str, Any] = {**describe_model(state.config.model), "store": describe_target(settings.db_path)}
        if state.config.model.servers or state.config.model.answer_server:  # model.servers: probed now
            from runtime.remote import describe_servers

            info["model_servers"] = describe_servers(state.config.model)
        open_by_domain: dict[str, int] = {}
        if target_exists(settings.db_path):
            sched, store = _scheduler(state, db)
            try:
                open_by_domain = store.escalation_counts()
                jobs_status = sched.status()
            except StoreError as exc:
                fail(str(exc))
                return
            finally:
                store.close()
        else:  # nothing has run yet: do not create the store just to look
            jobs_status = [
                {
                    "name": name,
                    "cron": sch.cron,
                    "timezone": sch.timezone,
                    "enabled": sch.enabled,
                    "next": None,
                    "last_started": None,
                    "last_ended": None,
                    "last_outcome": None,
                    "last_summary": "",
                    "last_trigger": None,
                }
                for name, sch in ops.schedule.jobs.items()
            ]
        info["store_exists"] = target_exists(settings.db_path)
        info["open_total"] = sum(open_by_domain.values())
        info["open_by_domain"] = open_by_domain
        info["jobs"] = jobs_status
        if as_json:
            click.echo(json.dumps(info, ensure_ascii=False, default=str))
            return
        lines = [
            f"Model: {info.get('model_id') or '?'}" + (f"  ({info['error']})" if info.get("error") else ""),
            f"Adapter: {info.get('adapter') or 'none'}",
            f"Head: {info.get('head_id') or '?'}" + (f"  ({info['head_error']})" if info.get("head_error") else ""),
            f"Hazard head: {info.get('hazard_head_id') or 'none (n-grams only)'}"
            + (f"  ({info['hazard_head_error']})" if info.get("hazard_head_error") else ""),
            f"Response head: {', '.join(info.get('response_heads') or []) or 'none (answers are not watched)'}",
            *(
                f"Model server: {srv['url']} " + ("healthy" if srv["healthy"] else f"DOWN ({srv['last_error']})")
                for srv in (info.get("model_servers") or {}).get("servers", [])
            ),
            f"Store: {info['store']}" + ("" if info["store_exists"] else "  (not created yet: run `so8t serve`)"),
            f"Open cases: {info['open_total']}" + "".join(f" · {d} {n}" for d, n in open_by_domain.items()),
            "Queue: only inside `so8t serve` (see /healthz or /so8t status in chat)",
        ]
        for j in map(job_line, jobs_status):
            summary = f" ({j['summary']})" if j["summary"] else ""
            lines.append(f"Job {j['name']}: {j['schedule']} · last {j['last']}{summary} · next {j['next']}")
        click.echo("\n".join(lines))

    @jobs.command(name="run")
    @click.argument("name")
    @click.option("--db", default=None, help="audit database")
    @click.pass_obj
    def jobs_run(state: Any, name: str, db: str | None) -> None:
        """Run one job now (recorded like a scheduled run; refused while another process runs it)."""
        sched, store = _scheduler(state, db)
        try:
            try:
                sched.schedule(name)
            except KeyError as exc:
                fail(str(exc.args[0]))
            rec = asyncio.run(sched.run_now(name))
        except StoreError as exc:
            fail(str(exc))
            return
        finally:
            store.close()
        if rec is None:
            fail(f"job {name} is running in another process; try again later", 1)
            return
        click.echo(f"{name}: {rec.outcome} - {rec.summary}")
        if rec.outcome != "ok":
            sys.exit(1)

    @group.group()
    def audit() -> None:
        """Check, checkpoint or export the chained audit log (keyed with SO8T_AUDIT_KEY)."""

    @audit.command()
    @click.option("--db", default=None, help="audit database")
    @click.option(
        "--checkpoint",
        "checkpoint_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="also check the chain against the signed checkpoints in this file (truncation, rewrites)",
    )
    @click.pass_obj
    def verify(state: Any, db: str | None, checkpoint_file: str | None) -> None:
        """Exit 0 when the chain is intact (and holds every checkpoint); otherwise say why and exit 1."""
        from bot.checkpoint import CheckpointError, check_checkpoints, read_checkpoints

        store = _open_existing(state, db)
        problem: str | None = None
        try:
            result = store.verify_chain()
            if result.ok and checkpoint_file is not None:
                if store.audit_key is None:
                    fail("--checkpoint needs SO8T_AUDIT_KEY (the key the checkpoints were signed with)")
                try:
                    problem = check_checkpoints(store, read_checkpoints(checkpoint_file, store.audit_key or b""))
                except CheckpointError as exc:
                    problem = str(exc)
        except StoreError as exc:
            fail(str(exc))
            return
        finally:
            store.close()
        if not result.ok:
            click.echo(f"audit chain broken at row {result.first_broken}: {result.reason}", err=True)
            sys.exit(1)
        if problem is not None:
            click.echo(f"audit checkpoint check failed: {problem}", err=True)
            sys.exit(1)
        unkeyed = result.rows - result.keyed
        keyed = f" ({result.keyed} keyed, {unkeyed} unkeyed)" if unkeyed and result.keyed else ""
        if not result.keyed and result.rows:
            keyed = " (unkeyed: set SO8T_AUDIT_KEY to key new rows)"
        where = f"; holds the checkpoints in {checkpoint_file}" if checkpoint_file else ""
        click.echo(f"audit chain intact: {result.rows} row(s){keyed}{where}")

    @audit.command(name="checkpoint")
    @click.option("--db", default=None, help="audit database")
    @click.option(
        "--file",
        "checkpoint_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="append here (default $SO8T_AUDIT_CHECKPOINT, audit.checkpoint or var/audit-checkpoints.jsonl)",
    )
    @click.pass_obj
    def checkpoint_cmd(state: Any, db: str | None, checkpoint_file: str | None) -> None:
        """Verify the chain, then append a signed checkpoint of its head (row count + last MAC)."""
        from bot.checkpoint import checkpoint_path, write_checkpoint
        from serve.ops_settings import load_ops_settings

        try:
            ops = load_ops_settings(state.config)
        except ConfigError as exc:
            fail(str(exc))
            return
        path = Path(checkpoint_file) if checkpoint_file else checkpoint_path(ops.audit.checkpoint)
        store = _open_existing(state, db)
        try:
            cp = write_checkpoint(store, path, time.time())
        except StoreError as exc:
            fail(str(exc))
            return
        finally:
            store.close()
        click.echo(f"checkpoint: {cp.rows} row(s), head {cp.mac[:16]}… appended to {path}")

    @audit.command()
    @click.option("--since", default=None, help="start (2024-05-01, 2024-05-01T09:00 or 7d)")
    @click.option("--until", default=None, help="end (exclusive)")
    @click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="file (default stdout)")
    @click.option("--db", default=None, help="audit database")
    @click.pass_obj
    def export(state: Any, since: str | None, until: str | None, out: str | None, db: str | None) -> None:
        """Write the audit rows (PII masked) as JSON Lines."""
        store = _open_existing(state, db)
        s, u = _time(since, "since"), _time(until, "until")
        try:
            with open(out, "w", encoding="utf-8") if out else contextlib.nullcontext(sys.stdout) as fh:
                n = 0
                for row in store.export(s, u):
                    fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
                    n += 1
        except StoreError as exc:
            fail(str(exc))
            return
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror}")
            return
        finally:
            store.close()
        if out:
            click.echo(f"wrote {n} row(s) to {out}", err=True)

    @group.command()
    @click.option("--db", default=None, help="audit database")
    @click.option(
        "--days",
        type=click.FloatRange(0, 36500),
        default=None,
        help="retention in days (default privacy.retention_days, 30)",
    )
    @click.pass_obj
    def purge(state: Any, db: str | None, days: float | None) -> None:
        """Forget originals past retention: the encrypted request of escalations opened before it, and
        the raw payload of events received before it and never finished (the daily audit job does this)."""
        from serve.ops_settings import load_ops_settings

        try:
            ops = load_ops_settings(state.config)
        except ConfigError as exc:
            fail(str(exc))
            return
        retention = ops.privacy.retention_days if days is None else days
        store = _open_existing(state, db)
        now = time.time()
        try:
            purged = store.purge(now - retention * 86400.0, now)
        except StoreError as exc:
            fail(str(exc))
            return
        finally:
            store.close()
        click.echo(
            f"purged {purged['requests']} encrypted original(s) and {purged['events']} stale event(s) "
            f"older than {retention:g} day(s)"
        )

    @group.command(name="pii-check")
    @click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="also write the rates here")
    @click.option("--seed", type=int, default=15, show_default=True, help="corpus seed")
    @click.option(
        "-n",
        "--samples",
        type=click.IntRange(1, 100_000),
        default=300,
        show_default=True,
        help="positives and negatives per kind and language",
    )
    def pii_check(json_out: str | None, seed: int, samples: int) -> None:
        """Measure PII masking on a generated Japanese/English corpus: per kind, detection and
        false-positive rates (exit 1 when a kind is under 99% detection or over 1% false positives)."""
        from training.pii_corpus import DETECTION_TARGET, FP_TARGET, evaluate, generate, table

        rates = evaluate(generate(seed=seed, n_pos=samples, n_neg=samples))
        click.echo(table(rates), nl=False)
        if json_out:
            doc = {
                "seed": seed,
                "samples": samples,
                "targets": {"detection": DETECTION_TARGET, "fp_rate": FP_TARGET},
                "rates": [r.as_dict() for r in rates],
            }
            try:
                Path(json_out).parent.mkdir(parents=True, exist_ok=True)
                Path(json_out).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
            except OSError as exc:
                fail(f"cannot write {json_out}: {exc.strerror}")
            click.echo(f"wrote {json_out}", err=True)
        missed = [f"{r.kind}/{r.lang}" for r in rates if not r.ok]
        if missed:
            click.echo(f"below target: {', '.join(missed)}", err=True)
            sys.exit(1)
