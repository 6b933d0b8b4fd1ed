from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.config import load_config, parse_config, read_duration, read_names, read_number
from bot.errors import ConfigError
from cli.main import main


def test_defaults() -> None:
    cfg = parse_config({})
    assert cfg.safety_threshold == 0.8 and cfg.model.path is None and cfg.model.n_ctx == 2048


def test_values_are_read(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("safety_threshold: 0.7\nmodel:\n  threads: 3\n  n_ctx: 4096\n  path: /x.gguf\n")
    cfg = load_config(str(f))
    assert (cfg.safety_threshold, cfg.model.threads, cfg.model.n_ctx, cfg.model.path) == (0.7, 3, 4096, "/x.gguf")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("safety_threshold: 1.5\n", "safety_threshold"),
        ("safety_threshold: high\n", "safety_threshold"),
        ("model:\n  n_ctx: lots\n", "n_ctx"),
        ("model:\n  threads: 0\n", "threads"),
        ("model:\n  colour: red\n", "model.colour"),
        ("model: [1, 2]\n", "model"),
        ("rationale: poetry\n", "rationale"),
        ("- just\n- a list\n", "mapping"),
        ("model: {path: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_key_in_one_line(tmp_path: Path, text: str, key: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(str(f))
    assert key in str(exc.value) and "\n" not in str(exc.value)


def test_env_overrides_model_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SO8T_MODEL", "/models/other.gguf")
    assert parse_config({"model": {"path": "/a.gguf"}}).model.path == "/models/other.gguf"


def test_cli_reports_a_bad_config_without_traceback(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("safety_threshold: 2\n")
    res = CliRunner().invoke(main, ["--config", str(f), "ask", "hello"])
    assert res.exit_code == 2
    assert "safety_threshold" in res.output and "Traceback" not in res.output


def test_dotenv_does_not_override_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import load_dotenv

    env = tmp_path / ".env"
    env.write_text("# comment\nSO8T_T1=from_file\nexport SO8T_T2='quoted'\nSO8T_T3=x\n")
    monkeypatch.setenv("SO8T_T3", "from_env")
    monkeypatch.delenv("SO8T_T1", raising=False)
    monkeypatch.delenv("SO8T_T2", raising=False)
    load_dotenv(env)
    import os

    assert (os.environ["SO8T_T1"], os.environ["SO8T_T2"], os.environ["SO8T_T3"]) == ("from_file", "quoted", "from_env")


def test_the_cli_and_the_app_never_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, cli.main, serve.app; print(any(m in sys.modules for m in ('torch', 'transformers', 'peft')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False"


def test_safety_section_is_read_and_checked(tmp_path: Path) -> None:
    from bot.config import parse_config
    from bot.errors import ConfigError

    cfg = parse_config({"safety": {"hazard_threshold": 0.6, "severity_terms": ["Project Falcon", "極秘"]}})
    assert cfg.model.hazard_threshold == 0.6 and cfg.model.severity_terms == ("Project Falcon", "極秘")
    assert cfg.model.hazard_clear == 0.1 and parse_config({"safety": {"hazard_clear": 0}}).model.hazard_clear == 0.0
    assert cfg.model.support_review == 0.2
    assert parse_config({"safety": {"support_review": 0.4}}).model.support_review == 0.4
    with pytest.raises(ConfigError, match="hazard_clear"):
        parse_config({"safety": {"hazard_clear": 2}})
    with pytest.raises(ConfigError, match="safety.hazard_treshold"):
        parse_config({"safety": {"hazard_treshold": 0.6}})
    with pytest.raises(ConfigError, match="severity_terms"):
        parse_config({"safety": {"severity_terms": "bomb"}})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("safety_treshold: 0.7\n", "unknown key 'safety_treshold' in {f} — did you mean 'safety_threshold'?"),
        ("escalaton:\n  check_interval: 5m\n", "unknown key 'escalaton' in {f} — did you mean 'escalation'?"),
        ("model:\n  n_ctxx: 4096\n", "unknown key 'model.n_ctxx' in {f} — did you mean 'model.n_ctx'?"),
        ("safety:\n  hazard_treshold: 0.5\n", "unknown key 'safety.hazard_treshold' in {f} — did you mean"),
    ],
)
def test_unknown_keys_name_the_file_and_the_closest_key(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(str(f))
    assert str(exc.value).startswith(message.format(f=f)) and "\n" not in str(exc.value)


def test_an_unknown_key_with_nothing_close_lists_the_known_keys() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"zzz": 1}, "t.yaml")
    msg = str(exc.value)
    assert msg.startswith("unknown key 'zzz' in t.yaml (known: ") and "escalation" in msg and "safety_threshold" in msg


def test_every_top_level_key_of_the_example_config_is_known() -> None:
    import yaml

    from bot.config import TOP_LEVEL_KEYS

    example = yaml.safe_load((Path(__file__).parents[2] / "config.example.yaml").read_text(encoding="utf-8"))
    assert set(example) <= TOP_LEVEL_KEYS
    parse_config(example, "config.example.yaml")


def test_the_cli_prints_the_typo_line_and_does_not_start(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text("safety_treshold: 0.7\n")
    res = CliRunner().invoke(main, ["--config", str(f), "serve", "--port", "0"])
    assert res.exit_code == 2
    assert f"so8t: error: unknown key 'safety_treshold' in {f} — did you mean 'safety_threshold'?" in res.output


def test_public_value_readers_name_the_key() -> None:
    assert read_number("f.yaml", {}, "port", "console", 8765, 0, 65535, integer=True) == 8765
    assert read_number("f.yaml", {"x": 0.5}, "x", "", None, 0.0, 1.0) == 0.5
    with pytest.raises(ConfigError, match=r"f.yaml: key 'x' must be a number, got None"):
        read_number("f.yaml", {"x": None}, "x", "", None, 0.0, 1.0)
    with pytest.raises(ConfigError, match=r"key 'policy.queue.max_total' must be between 1 and 10"):
        read_number("f.yaml", {"max_total": 11}, "max_total", "policy.queue", 1, 1, 10, integer=True)
    assert read_names("f.yaml", "alice", "roles.admins") == ("alice",)
    assert read_names("f.yaml", ["a", 7], "roles.admins") == ("a", "7") and read_names("f.yaml", None, "x") == ()
    assert read_duration("f.yaml", "4h", "escalation.default_deadline") == 4 * 3600.0
    with pytest.raises(ConfigError, match=r"key 'schedule.lock_ttl' must be a duration"):
        read_duration("f.yaml", "soon", "schedule.lock_ttl")


def test_second_opinion_is_a_safety_setting() -> None:
    assert parse_config({}).model.second_opinion == 0.1
    assert parse_config({"safety": {"second_opinion": 0}}).model.second_opinion == 0.0
    with pytest.raises(ConfigError, match="second_opinion"):
        parse_config({"safety": {"second_opinion": 1.5}})


def test_support_terms_add_to_the_built_in_phrases() -> None:
    assert parse_config({"safety": {"support_terms": ["もう限界"]}}).model.support_terms == ("もう限界",)
    with pytest.raises(ConfigError, match="support_terms"):
        parse_config({"safety": {"support_terms": "もう限界"}})
