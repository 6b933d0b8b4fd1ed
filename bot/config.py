"""Configuration: config.yaml (from --config or SO8T_CONFIG) plus secrets from the environment / .env.

A bad file gets one ConfigError naming the key; callers print it as one line.
The value readers here (check_keys, read_number, read_names, read_duration) are the ones every settings
section uses: the model and safety keys here, bot/settings.py (storage, policy, roles, escalation,
console) and serve/ops_settings.py (schedule, reports, feedback, retrain, audit, privacy).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError
from runtime.settings import ModelSettings

# Every top-level key any part of SO8T reads; a key outside this set is a typo (or a stale key).
TOP_LEVEL_KEYS = frozenset(
    {
        "safety_threshold",
        "rationale",
        "model",
        "safety",
        "storage",
        "policy",
        "roles",
        "escalation",
        "console",
        "schedule",
        "reports",
        "feedback",
        "retrain",
        "audit",
        "privacy",
        "knowledge",
        "slack",
        "discord",
    }
)


def unknown_key(path: str, known: Iterable[str], source: str) -> ConfigError:
    """The one wording of an unknown key at any level: the closest known key, else all of them.

    `path` is dotted from the top (`policy.queue.max_totl`); `source` is the file as the user named it.
    """
    names = sorted(str(k) for k in known)
    leaf = path.rpartition(".")[2]
    close = difflib.get_close_matches(leaf, names, n=1, cutoff=0.6)
    if close:
        prefix = path.rpartition(".")[0]
        suggestion = f"{prefix}.{close[0]}" if prefix else close[0]
        return ConfigError(f"unknown key '{path}' in {source} — did you mean '{suggestion}'?")
    return ConfigError(f"unknown key '{path}' in {source} (known: {', '.join(names)})")


def check_keys(section: dict[str, Any], prefix: str, known: Iterable[str], source: str) -> None:
    """Raise unknown_key for the first key of `section` (at dotted `prefix`, "" at the top) not in `known`."""
    allowed = set(known)
    for key in section:
        if key not in allowed:
            raise unknown_key(f"{prefix}.{key}" if prefix else str(key), allowed, source)


def read_number(
    source: str,
    section: dict[str, Any],
    key: str,
    where: str,
    default: float | None,
    lo: float,
    hi: float,
    integer: bool = False,
) -> Any:
    """`section[key]` (dotted `where` + key in messages, "" at the top) as a float, or an int with `integer`,
    between lo and hi; `default` when absent or null (with no default the key must hold a number)."""
    path = f"{where}.{key}" if where else key
    value = section.get(key)
    if value is None and default is not None:
        return int(default) if integer else float(default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ConfigError(f"{source}: key '{path}' must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{source}: key '{path}' must be between {lo} and {hi}, got {value!r}")
    return int(value) if integer else float(value)


def read_names(source: str, value: Any, where: str) -> tuple[str, ...]:
    """A list of names (users, channels) at dotted `where`: one name, a list, or null (none)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise ConfigError(f"{source}: key '{where}' must be a list of names")
    return tuple(str(v) for v in value)


def read_duration(source: str, value: Any, where: str) -> float:
    """Seconds from a number or '30m' / '4h' / '2d' / '90s' at dotted `where`."""
    if isinstance(value, bool):
        raise ConfigError(f"{source}: key '{where}' must be a duration like 30m, 4h or 2d")
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    if isinstance(value, str) and len(value) >= 2 and value[-1] in "smhd":
        try:
            n = float(value[:-1])
        except ValueError:
            n = -1
        if n > 0:
            return n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[value[-1]]
    raise ConfigError(f"{source}: key '{where}' must be a duration like 30m, 4h or 2d, got {value!r}")


# The handbook shipped with SO8T (kb/sample_handbook): the knowledge folder when config.yaml names none.
SAMPLE_HANDBOOK = str(Path(__file__).resolve().parents[1] / "kb" / "sample_handbook")


@dataclass(frozen=True)
class KnowledgeFolder:
    """One folder of the team's documents (`knowledge.folders[]`); `channels` empty = visible everywhere.
    `answers`: the reviewers' folder, where a reviewer's answer to an escalation is saved with one button."""

    path: str
    channels: tuple[str, ...] = ()
    answers: bool = False

    def visible_in(self, channel: str | None) -> bool:
        """Unrestricted folders everywhere; a restricted one only in its channels (never without a channel)."""
        if not self.channels:
            return True
        return channel is not None and channel.lstrip("#") in {c.lstrip("#") for c in self.channels}


@dataclass(frozen=True)
class KnowledgeSettings:
    """The `knowledge:` section: document folders that answers may retrieve from and cite (kb/)."""

    folders: tuple[KnowledgeFolder, ...] = (KnowledgeFolder(SAMPLE_HANDBOOK),)


def _knowledge(data: dict[str, Any], source: str) -> KnowledgeSettings:
    """`knowledge: {folders: [{path, channels}]}`; absent = the sample handbook, `folders: []` = none."""
    section = data.get("knowledge")
    if section is None:
        return KnowledgeSettings()
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: key 'knowledge' must be a mapping (folders: [{{path, channels}}])")
    check_keys(section, "knowledge", {"folders"}, source)
    raw = section.get("folders")
    if raw is None:
        return KnowledgeSettings()
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: key 'knowledge.folders' must be a list of {{path: ..., channels: [...]}}")
    folders: list[KnowledgeFolder] = []
    for i, item in enumerate(raw):
        where = f"knowledge.folders[{i}]"
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: key '{where}' must be a mapping {{path: ..., channels: [...]}}")
        check_keys(item, where, {"path", "channels", "answers"}, source)
        path = item.get("path")
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(f"{source}: key '{where}.path' must be a folder path string")
        channels = item.get("channels") or []
        if isinstance(channels, str):
            channels = [channels]
        if not isinstance(channels, list) or not all(isinstance(c, (str, int)) and str(c) for c in channels):
            raise ConfigError(f"{source}: key '{where}.channels' must be a list of channel names")
        answers = item.get("answers", False)
        if not isinstance(answers, bool):
            raise ConfigError(f"{source}: key '{where}.answers' must be true or false")
        if answers and any(f.answers for f in folders):
            raise ConfigError(f"{source}: key '{where}.answers': only one folder can hold the reviewers' answers")
        folders.append(KnowledgeFolder(path.strip(), tuple(str(c) for c in channels), answers))
    return KnowledgeSettings(tuple(folders))


@dataclass(frozen=True)
class Config:
    model: ModelSettings = field(default_factory=ModelSettings)
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    source: str | None = None  # the file it was read from, for messages
    raw: dict[str, Any] = field(default_factory=dict)  # the whole parsed file, for sections added later

    @property
    def safety_threshold(self) -> float:
        return self.model.safety_threshold

    @property
    def where(self) -> str:
        """The file as every error names it ("defaults" when none was read)."""
        return self.source or "config"

    def section(self, name: str) -> dict[str, Any]:
        """A top-level mapping of the file ({} when absent); raises ConfigError when not a mapping."""
        value = self.raw.get(name, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{self.where}: key '{name}' must be a mapping")
        return value


def load_dotenv(path: str | Path = ".env") -> None:
    """Read KEY=VALUE lines into os.environ without overriding what is already set."""
    p = Path(path)
    if not p.is_file():
        return
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(key, value)


def parse_config(data: Any, source: str = "config") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the file must be a YAML mapping of keys, got {type(data).__name__}")
    check_keys(data, "", TOP_LEVEL_KEYS, source)
    kwargs: dict[str, Any] = {}
    if "safety_threshold" in data:
        kwargs["safety_threshold"] = read_number(source, data, "safety_threshold", "", None, 0.0, 1.0)
    if "rationale" in data:
        if data["rationale"] not in ("template", "generate"):
            raise ConfigError(f"{source}: key 'rationale' must be 'template' or 'generate', got {data['rationale']!r}")
        kwargs["rationale"] = data["rationale"]
    model = data.get("model") or {}
    if not isinstance(model, dict):
        raise ConfigError(f"{source}: key 'model' must be a mapping (path, adapter, threads, n_ctx)")
    known = {
        "path",
        "answer_model",
        "adapter",
        "head",
        "hazard_head",
        "response_head",
        "threads",
        "n_ctx",
        "max_answer_tokens",
        "temperature",
        "seed",
        "servers",
        "answer_server",
        "answer_server_model",
    }
    check_keys(model, "model", known, source)
    for key in ("path", "answer_model", "adapter", "head", "hazard_head", "response_head"):
        if model.get(key) is not None:
            if not isinstance(model[key], str):
                raise ConfigError(f"{source}: key 'model.{key}' must be a file path string")
            kwargs[key] = model[key]
    if model.get("threads") is not None:
        kwargs["threads"] = read_number(source, model, "threads", "model", None, 1, 512, integer=True)
    if "n_ctx" in model:
        kwargs["n_ctx"] = read_number(source, model, "n_ctx", "model", None, 256, 131072, integer=True)
    if "max_answer_tokens" in model:
        kwargs["max_answer_tokens"] = read_number(
            source, model, "max_answer_tokens", "model", None, 1, 8192, integer=True
        )
    if "temperature" in model:
        kwargs["temperature"] = read_number(source, model, "temperature", "model", None, 0.0, 2.0)
    if "seed" in model:
        kwargs["seed"] = read_number(source, model, "seed", "model", None, 0, 2**31 - 1, integer=True)
    kwargs.update(_model_servers(model, source))
    kwargs.update(_safety(data, source))
    # environment overrides (SO8T_MODEL / SO8T_ADAPTER / SO8T_HEAD / SO8T_HAZARD_HEAD)
    for env, key in (
        ("SO8T_MODEL", "path"),
        ("SO8T_ANSWER_MODEL", "answer_model"),
        ("SO8T_ADAPTER", "adapter"),
        ("SO8T_HEAD", "head"),
        ("SO8T_HAZARD_HEAD", "hazard_head"),
        ("SO8T_RESPONSE_HEAD", "response_head"),
    ):
        if os.environ.get(env):
            kwargs[key] = os.environ[env]
    if os.environ.get("SO8T_MODEL_SERVERS"):  # comma-separated llama-server addresses
        kwargs.update(_model_servers({"servers": os.environ["SO8T_MODEL_SERVERS"].split(",")}, "SO8T_MODEL_SERVERS"))
    if os.environ.get("SO8T_ANSWER_SERVER"):
        kwargs.update(_model_servers({"answer_server": os.environ["SO8T_ANSWER_SERVER"]}, "SO8T_ANSWER_SERVER"))
    return Config(model=ModelSettings(**kwargs), knowledge=_knowledge(data, source), source=source, raw=data)


def _safety(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The `safety:` section: the hazard head's thresholds and the admin's severity terms."""
    safety = data.get("safety") or {}
    if not isinstance(safety, dict):
        raise ConfigError(f"{source}: key 'safety' must be a mapping (hazard_threshold, hazard_review, ...)")
    known = {
        "hazard_threshold",
        "hazard_review",
        "hazard_clear",
        "second_opinion",
        "support_review",
        "domain_threshold",
        "severity_terms",
        "support_terms",
        "response_unsafe",
        "response_unsafe_answer",
        "response_escalate",
        "response_every",
    }
    check_keys(safety, "safety", known, source)
    out: dict[str, Any] = {}
    for key in (
        "hazard_threshold",
        "hazard_review",
        "hazard_clear",
        "second_opinion",
        "support_review",
        "domain_threshold",
        "response_unsafe",
        "response_unsafe_answer",
        "response_escalate",
    ):
        if key in safety:
            out[key] = read_number(source, safety, key, "safety", None, 0.0, 1.0)
    if "response_every" in safety:
        out["response_every"] = read_number(source, safety, "response_every", "safety", None, 4, 512, integer=True)
    for key in ("severity_terms", "support_terms"):
        terms = safety.get(key)
        if terms is not None:
            if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
                raise ConfigError(f"{source}: key 'safety.{key}' must be a list of non-empty strings")
            out[key] = tuple(t.strip() for t in terms)
    return out


def _server_url(value: object, what: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip().startswith(("http://", "https://")):
        raise ConfigError(f"{source}: {what} must be an http:// or https:// address, got {value!r}")
    return value.strip().rstrip("/")


def _model_servers(model: dict[str, Any], source: str) -> dict[str, Any]:
    """model.servers (llama-servers that evaluate the prompts, runtime/remote.py), model.answer_server (an
    OpenAI-compatible server for ALLOW answers) and model.answer_server_model (the model name it expects)."""
    out: dict[str, Any] = {}
    servers = model.get("servers")
    if servers is not None:
        if isinstance(servers, str):
            servers = [servers]
        if not isinstance(servers, list):
            raise ConfigError(f"{source}: key 'model.servers' must be a list of http:// addresses")
        urls = [_server_url(u, "each of 'model.servers'", source) for u in servers if str(u).strip()]
        if len(set(urls)) != len(urls):
            raise ConfigError(f"{source}: key 'model.servers' lists an address twice")
        out["servers"] = tuple(urls)
    if model.get("answer_server") is not None:
        out["answer_server"] = _server_url(model["answer_server"], "key 'model.answer_server'", source)
    if model.get("answer_server_model") is not None:
        if not isinstance(model["answer_server_model"], str):
            raise ConfigError(f"{source}: key 'model.answer_server_model' must be a model name string")
        out["answer_server_model"] = model["answer_server_model"]
    return out


def load_config(path: str | None = None) -> Config:
    """Load config from `path`, else $SO8T_CONFIG, else ./config.yaml if present, else defaults."""
    load_dotenv()
    path = path or os.environ.get("SO8T_CONFIG")
    if path is None and Path("config.yaml").is_file():
        path = "config.yaml"
    if path is None:
        return parse_config({}, "defaults")
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {path} (copy config.example.yaml to config.yaml)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    return parse_config(data, str(path))
