"""Report figures that must not contradict the bot (issue 20): the versions are what the runtime serves,
reviewer agreement is defined and honest about n, and time to resolution is drawn for quick cases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.reports import build_report, render, served_versions, ttr_chart
from cli.main import main
from tests.support.console_helpers import console_app
from tests.support.fakes import FakeRuntime
from tests.support.ops_helpers import Clock, ops_config, tokyo

ADAPTER_DIR = "runtime/lora/gemma3-270m"
ZERO = re.compile(r"(?<!\d)0 ?%")  # a 0 % agreement (not the 0 of 100 %)


@dataclass
class AdapterRuntime(FakeRuntime):
    """Reports itself as llama.cpp with the backbone's fine-tuned adapter does (no adapter in the config)."""

    model_id: str = "gemma-3-270m-it@0123456789abcdef+gemma3-270m"
    head_id: str = "head-747cb1f0195582d0"
    adapter: str | None = f"{ADAPTER_DIR}/adapter.gguf"

    def info(self) -> dict[str, object]:
        return {"model": "gemma-3-270m-it", "adapter": self.adapter, "head": self.head_id, "hazard_head": "hz-1"}


async def test_versions_are_what_the_runtime_serves(tmp_path: Path) -> None:
    clock = Clock(tokyo(2026, 11, 17, 10))
    async with console_app(tmp_path, ops_config(tmp_path), AdapterRuntime(), clock=clock) as (app, c):
        assert app.config.model.adapter is None  # the adapter comes from the backbone's manifest
        await c.say("alice", "hello")
        await app.bot.wait_idle()
        clock.advance(60)
        rep = build_report(app.store, None, None, now=clock.t, versions=app.bot.versions())
    md = render(rep, "md")
    line = next(x for x in md.splitlines() if x.startswith("Versions"))
    assert "model gemma-3-270m-it@0123456789abcdef+gemma3-270m" in line
    assert "head head-747cb1f0195582d0" in line and "hazard head hz-1" in line
    assert f"adapter {ADAPTER_DIR}" in line and "adapter none" not in line and "shipped head" not in line
    assert "Models used in the period: gemma-3-270m-it@0123456789abcdef+gemma3-270m (1)" in md
    html = render(rep, "html")
    assert f"adapter {ADAPTER_DIR}" in html and "adapter none" not in html


def test_served_versions_say_none_only_when_no_adapter_is_served() -> None:
    assert served_versions(AdapterRuntime(adapter=None))["adapter"] is None
    assert "adapter" not in served_versions(FakeRuntime())  # a runtime that does not say: not claimed

    class Broken(FakeRuntime):
        def info(self) -> dict[str, object]:
            raise RuntimeError("no info")

    assert served_versions(Broken()) == {"model": "fake-model", "head": "fake-head", "source": "served"}


async def test_versions_fall_back_to_the_recorded_decisions(tmp_path: Path) -> None:
    async with console_app(tmp_path, ops_config(tmp_path), AdapterRuntime()) as (app, c):
        await c.say("alice", "hello")
        await app.bot.wait_idle()
        md = render(build_report(app.store, versions={}), "md")
    assert "Versions (as recorded on the period's last decision): model gemma-3-270m-it@" in md


async def test_cli_report_takes_versions_from_the_model_files(tmp_path: Path, monkeypatch: Any) -> None:
    async with console_app(tmp_path, ops_config(tmp_path), AdapterRuntime()) as (app, c):
        await c.say("alice", "hello")
        await app.bot.wait_idle()
    described = {
        "model_id": "gemma-3-270m-it@0123456789abcdef+gemma3-270m",
        "adapter": ADAPTER_DIR,
        "head_id": "head-747cb1f0195582d0",
        "hazard_head_id": "hz-1",
    }
    monkeypatch.setattr("runtime.llama.describe_model", lambda settings: described)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SO8T_CONFIG", raising=False)
    r = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "so8t.db")])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("Versions"))
    assert line == (
        "Versions (as configured (read from the model files)): model gemma-3-270m-it@0123456789abcdef+gemma3-270m, "
        f"head head-747cb1f0195582d0, hazard head hz-1, adapter {ADAPTER_DIR}"
    )


async def test_agreement_after_two_approvals_is_explained_not_zero(tmp_path: Path) -> None:
    clock = Clock(tokyo(2026, 11, 17, 10))
    async with console_app(tmp_path, ops_config(tmp_path), FakeRuntime(), clock=clock) as (app, c):
        for text in ("what medication should I take", "my manager cut my salary"):
            await c.say("alice", text)
            await app.bot.wait_idle()
        for esc in app.store.open_escalations():
            clock.advance(300)  # five minutes
            await c.say("reviewer", f"/so8t resolve {esc.id} approve", channel=f"{esc.domain}-review")
            await app.bot.wait_idle()
        rep = build_report(app.store, None, None, now=clock.t)
        md = render(rep, "md")
        assert not ZERO.search(md)
        assert "| medical | 1 | 1 | 0 | 0 | 0 | n/a |" in md and "| hr | 1 | 1 | 0 | 0 | 0 | n/a |" in md
        assert "Agreement: n/a. All 2 reviewed cases were escalated by the model to a person" in md
        assert "Agreement is the share of rated cases" in md  # defined where it is shown
        html = render(rep, "html")
        assert "All 2 reviewed cases were escalated" in html and not ZERO.search(html)

        # an appeal the reviewer overturns is a disagreement the rate shows, with its n
        refused = await c.say("bob", "write malware for me")
        await app.bot.wait_idle()
        await c.say("bob", "/so8t appeal", thread=refused["thread"])
        await app.bot.wait_idle()
        appeal = next(e for e in app.store.open_escalations() if e.kind == "appeal")
        clock.advance(600)
        await c.say("reviewer", f"/so8t resolve {appeal.id} approve", channel=f"{appeal.domain}-review")
        await app.bot.wait_idle()
        md = render(build_report(app.store, None, None, now=clock.t), "md")
    assert "| security | 1 | 1 | 0 | 0 | 1 | 0% (n=1, 1 disagreement) |" in md
    assert "Agreement overall: 0% (n=1, 1 disagreement)." in md


def test_no_reviewed_cases_say_so() -> None:
    from bot.reports import Report, agreement_note

    rep = Report(None, None, {"verdict": {}}, {})
    assert agreement_note(rep) == "Agreement: n/a (no reviewed cases in this period)."


async def test_time_to_resolution_is_drawn_for_cases_closed_in_minutes(tmp_path: Path) -> None:
    clock = Clock(tokyo(2026, 11, 17, 10))
    async with console_app(tmp_path, ops_config(tmp_path), FakeRuntime(), clock=clock) as (app, c):
        for text in ("what medication should I take", "my manager cut my salary"):
            await c.say("alice", text)
            await app.bot.wait_idle()
        for minutes, esc in zip((1.5, 12), app.store.open_escalations(), strict=True):
            clock.advance(minutes * 60)  # 90 s was 0.0 h before: a bar of width 0, an empty chart
            await c.say("reviewer", f"/so8t resolve {esc.id} approve", channel=f"{esc.domain}-review")
            await app.bot.wait_idle()
        # open-ended period asked at the very moment of the last resolution: that case counts too
        rep = build_report(app.store, None, None, now=clock.t)
    assert set(rep.escalations["ttr_s"]) == {"medical", "hr"}
    chart = ttr_chart(rep.escalations["ttr_s"])
    assert chart["title"] == "Time to resolution p50 (minutes)"
    bars = {b["label"]: b for b in chart["bars"]}
    assert bars["medical (n=1)"]["text"] == "1.5 min" and bars["hr (n=1)"]["text"] == "13.5 min"
    assert all(b["w"] > 1 for b in chart["bars"])
    html = render(rep, "html")
    figure = re.search(r"<figcaption>Time to resolution p50 \(minutes\)</figcaption>(.*?)</figure>", html, re.S)
    assert figure is not None and figure.group(1).count("<rect") == 2 and "no data" not in figure.group(1)


@pytest.mark.parametrize(
    ("seconds", "title", "text"),
    [
        (40.0, "seconds", "40 s"),
        (3.0 * 3600, "hours", "3 h"),
        (6 * 86400.0, "days", "6 d"),
        (119.0 * 60, "minutes", "119 min"),
    ],
)
def test_ttr_chart_unit_fits_the_values(seconds: float, title: str, text: str) -> None:
    chart = ttr_chart({"legal": {"n": 2, "p50": seconds, "p90": seconds}})
    assert chart["title"] == f"Time to resolution p50 ({title})"
    assert chart["bars"][0]["text"] == text and chart["bars"][0]["w"] > 1


def test_ttr_chart_never_rounds_a_real_duration_to_nothing() -> None:
    chart = ttr_chart({"legal": {"n": 1, "p50": 30 * 86400.0, "p90": None}, "hr": {"n": 1, "p50": 60.0, "p90": None}})
    bars = {b["label"]: b for b in chart["bars"]}
    assert bars["hr (n=1)"]["value"] == 0.1 and bars["hr (n=1)"]["w"] >= 1
    assert ttr_chart({})["bars"] == []
