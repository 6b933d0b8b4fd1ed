"""Every `so8t` command and subcommand answers --help (no model, config or store is touched)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.main import main

ROOT = Path(__file__).resolve().parents[2]

# The command tree a user sees; a command that disappears (or a new one without a line here) fails.
EXPECTED = {
    "ask",
    "audit",
    "audit checkpoint",
    "audit export",
    "audit verify",
    "bench",
    "bench-pool",
    "chat",
    "dataset",
    "dataset build",
    "dataset hazard",
    "eval",
    "eval-answers",
    "export",
    "jobs",
    "jobs list",
    "jobs run",
    "kb",
    "kb eval",
    "kb eval-answers",
    "kb index",
    "kb search",
    "kb stats",
    "model",
    "model list",
    "model rollback",
    "model-server",
    "models",
    "pet-ablation",
    "pii-check",
    "purge",
    "report",
    "serve",
    "status",
    "train",
    "train-hazard",
    "train-head",
    "train-response",
}


def _walk(cmd: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if path:
        yield path
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(main))


def test_the_command_tree_is_the_expected_one() -> None:
    assert {" ".join(path) for path in COMMANDS} == EXPECTED


@pytest.mark.parametrize("path", [(), *COMMANDS], ids=lambda p: " ".join(p) or "so8t")
def test_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="so8t")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {' '.join(('so8t', *path))}")


def test_python_m_cli_and_the_console_script_answer_help() -> None:
    out = subprocess.run([sys.executable, "-m", "cli", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("Usage: so8t"), out.stderr
    script = shutil.which("so8t", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the so8t console script is not installed in this environment")
    out = subprocess.run([script, "serve", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("Usage: so8t serve"), out.stderr
