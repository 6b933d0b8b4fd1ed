"""deploy/: the compose file parses, its services are the documented topology, and every `so8t` command it
runs exists with those options (Docker itself cannot run on the development machines or in CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_compose_file_is_postgres_two_model_servers_and_two_bots() -> None:
    services = _compose()["services"]
    assert {"postgres", "llama-1", "llama-2", "bot-1", "bot-2"} <= set(services)
    for bot in ("bot-1", "bot-2"):
        env = services[bot]["environment"]
        assert env["SO8T_MODEL_SERVERS"].split(",") == ["http://llama-1:8080", "http://llama-2:8080"]
        assert env["SO8T_DB"].startswith("postgresql://so8t:")
        assert set(services[bot]["depends_on"]) == {"postgres", "llama-1", "llama-2"}
        assert all(p.startswith("127.0.0.1:") for p in services[bot]["ports"])  # the console has no login
    assert services["llama-1"]["command"][:2] == ["so8t", "model-server"]
    assert (ROOT / services["bot-1"]["build"]["dockerfile"]).is_file()  # the build context is the repository root


def test_every_so8t_command_in_the_compose_file_exists(monkeypatch: Any) -> None:
    from cli.main import main

    monkeypatch.setenv("SO8T_CONFIG", str(ROOT / "config.example.yaml"))
    for name, service in _compose()["services"].items():
        command = service.get("command")
        if not command or command[0] != "so8t":
            continue
        args = [a.replace("${LLAMA_THREADS:-2}", "2") for a in command[1:]]
        if args[0] == "model-server":
            args.append("--print")  # the llama-server command line, nothing started
        else:
            args.append("--help")
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, (name, result.output)
        if args[0] == "model-server":
            assert result.output.startswith("llama-server --model "), result.output
            assert ("--embeddings" in result.output) != ("--answers" in args), result.output
