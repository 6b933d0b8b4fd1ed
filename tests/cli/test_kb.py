"""`so8t kb index|search|stats|eval` on temporary stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from tests.kb.helpers import EXPENSES, HR_ONLY, LEAVE_JA, write


@pytest.fixture()
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SO8T_DB", "SO8T_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "docs", "expenses.md", EXPENSES)
    write(tmp_path / "docs", "leave.md", LEAVE_JA)
    write(tmp_path / "docs", "junk.txt", "")
    write(tmp_path / "hr", "salary.md", HR_ONLY)
    path = tmp_path / "config.yaml"
    path.write_text(
        "storage: {path: store.db}\nknowledge:\n  folders:\n    - path: docs\n    - {path: hr, channels: [hr-team]}\n",
        encoding="utf-8",
    )
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("command", [[], ["index"], ["search"], ["stats"], ["eval"]])
def test_help(command: list[str]) -> None:
    code, out = _run("kb", *command, "--help")
    assert code == 0 and "Usage: main kb" in out


def test_index_search_and_stats(config: Path) -> None:
    code, out = _run("--config", str(config), "kb", "index")
    assert code == 0, out
    assert "so8t: warning: docs/junk.txt: skipped, empty file" in out
    assert "3 added" in out and "-> store.db" in out
    code, out = _run("--config", str(config), "kb", "index")
    assert code == 0 and "3 unchanged" in out

    code, out = _run("--config", str(config), "kb", "search", "有給休暇の申請")
    assert code == 0 and out.startswith("[1] 年次有給休暇 — 付与日数 · 申請 (docs/leave.md)")
    assert "relevant: best coverage" in out

    code, out = _run("--config", str(config), "kb", "search", "salary band", "--json")
    data = json.loads(out)
    assert code == 0 and all("salary" not in p["path"] for p in data["passages"])
    code, out = _run("--config", str(config), "kb", "search", "salary band", "--channel", "hr-team", "--json")
    assert json.loads(out)["passages"][0]["path"] == "hr/salary.md"

    code, out = _run("--config", str(config), "kb", "search", "receipt", "--prompt")
    assert code == 0 and "[1] Expense claims — Deadline · Receipts (docs/expenses.md)" in out and "\n> " in out

    code, out = _run("--config", str(config), "kb", "stats")
    assert code == 0 and "store.db: 3 document(s)" in out and "hr: 1 document(s)" in out
    assert "visible in hr-team" in out and "visible in every channel" in out
    code, out = _run("--config", str(config), "kb", "stats", "--json")
    assert json.loads(out)["documents"] == 3


def test_search_without_an_index_fails_in_one_line(config: Path, tmp_path: Path) -> None:
    code, out = _run("--config", str(config), "kb", "search", "x", "--db", str(tmp_path / "none.db"))
    assert code == 2 and out.count("\n") == 1 and "no knowledge index" in out
    assert not (tmp_path / "none.db").exists()


def test_bad_knowledge_config_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "c.yaml"
    path.write_text("knowledge:\n  folders:\n    - {path: docs, chanels: [a]}\n", encoding="utf-8")
    code, out = _run("--config", str(path), "kb", "index")
    assert code == 2 and out.count("\n") == 1 and "did you mean 'knowledge.folders[0].channels'" in out


def test_eval_runs_on_the_handbook(tmp_path: Path) -> None:
    out_file = tmp_path / "eval.json"
    code, out = _run("kb", "eval", "--docs", "40", "--sweep", "--json", str(out_file))
    assert code == 0, out
    assert "recall@3" in out and "index build, 40 documents" in out and "coverage >= 0.35" in out
    data = json.loads(out_file.read_text(encoding="utf-8"))
    assert data["questions"] >= 60 and data["runs"][0]["scheme"] == "bigram" and data["build"]["documents"] == 40


def test_index_watch_picks_up_changes_until_interrupted(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []

    def fake_sleep(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) == 1:
            write(config.parent / "docs", "new.md", "# Canteen\n\nThe canteen opens at 11:30.")
        elif len(calls) == 2:
            (config.parent / "docs" / "leave.md").unlink()
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr("cli.kb.time.sleep", fake_sleep)
    code, out = _run("--config", str(config), "kb", "index", "--watch", "--interval", "2")
    assert code == 0, out
    assert calls == [2.0, 2.0, 2.0] and "watching 2 folder(s) every 2 s" in out
    lines = out.splitlines()
    assert "1 added" in lines[-3] and "1 removed" in lines[-2] and lines[-1] == "stopped"
    assert out.count("junk.txt: skipped") == 1  # said once, not on every pass
