"""Bot settings from config sections: defaults, console users, one-line errors naming the key."""

from __future__ import annotations

import pytest

from bot.config import parse_config
from bot.errors import ConfigError
from bot.settings import load_settings
from runtime.base import REVIEW_DOMAINS


def test_defaults_and_console_users(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SO8T_DB", raising=False)
    s = load_settings(parse_config({}))
    assert s.db_path == "var/so8t.db" and s.console.port == 8765 and s.console.host == "127.0.0.1"
    assert s.roles.is_admin("console", "admin") and not s.roles.is_admin("slack", "admin")
    assert all(
        s.roles.is_reviewer("console", "reviewer", d) for d in ("legal", "medical", "hr", "privacy", "compliance")
    )
    assert not s.roles.is_reviewer("console", "alice", "hr")
    assert s.escalation.channel_for("console", "hr") == "hr-review"


def test_db_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_config({"storage": {"path": "from-config.db"}})
    monkeypatch.delenv("SO8T_DB", raising=False)
    assert load_settings(cfg).db_path == "from-config.db"
    monkeypatch.setenv("SO8T_DB", "from-env.db")
    assert load_settings(cfg).db_path == "from-env.db"
    assert load_settings(cfg, "from-flag.db").db_path == "from-flag.db"


def test_sections_parse() -> None:
    s = load_settings(
        parse_config(
            {
                "policy": {
                    "allow_channels": ["general"],
                    "rate_limit": {"per_minute": 5, "burst": 2},
                    "context": {"turns": 2, "tokens": 100},
                    "queue": {"max_total": 9},
                },
                "roles": {"admins": ["slack:U1"], "reviewers": {"legal": ["U2"]}},
                "escalation": {
                    "channels": {"slack": {"legal": "C-LEGAL"}},
                    "deadlines": {"legal": "2h", "hr": 600},
                },
                "console": {"default_users": False, "port": 9000},
            }
        )
    )
    assert s.policy.allow_channels == ("general",) and s.policy.rate_per_minute == 5.0
    assert s.policy.queue.max_total == 9 and s.policy.queue.max_per_user == 20
    assert s.roles.is_admin("slack", "U1") and s.roles.is_reviewer("discord", "U2", "legal")
    assert not s.roles.is_admin("console", "admin")
    assert s.escalation.channel_for("slack", "legal") == "C-LEGAL"
    assert s.escalation.deadline_for("legal") == 7200 and s.escalation.deadline_for("hr") == 600
    assert s.console.port == 9000


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"storage": {"path": 3}}, "storage.path"),
        ({"storage": {"file": "x"}}, "storage.file"),
        ({"policy": {"rate_limit": {"per_minute": "fast"}}}, "policy.rate_limit.per_minute"),
        ({"policy": {"queue": {"max_total": 0}}}, "policy.queue.max_total"),
        ({"policy": {"context": []}}, "policy.context"),
        ({"roles": {"reviewers": {"finance": ["x"]}}}, "roles.reviewers.finance"),
        ({"roles": {"admins": {"a": 1}}}, "roles.admins"),
        ({"escalation": {"deadlines": {"hr": "soon"}}}, "escalation.deadlines.hr"),
        ({"escalation": {"channels": {"slack": {"hr": ""}}}}, "escalation.channels.slack.hr"),
        ({"escalation": {"fallback_domain": "it"}}, "escalation.fallback_domain"),
        ({"console": {"port": 70000}}, "console.port"),
        ({"console": {"default_users": "yes"}}, "console.default_users"),
        ({"roles": "admin"}, "'roles'"),
    ],
)
def test_bad_values_name_the_key(data: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(parse_config(data))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_roles_by_platform_role_id() -> None:
    from bot.settings import RoleSettings

    roles = RoleSettings(admins=("discord:role:900",), reviewers={"hr": ("discord:role:901",)})
    assert roles.is_admin("discord", "123", ("900",))
    assert not roles.is_admin("discord", "123", ("901",))
    assert roles.is_reviewer("discord", "123", "hr", ("901",))
    assert not roles.is_reviewer("discord", "123", "legal", ("901",))
    assert not roles.is_reviewer("slack", "123", "hr", ("901",))  # a role id is per platform
    assert roles.reviewer_domains("discord", "5", ("900",)) == REVIEW_DOMAINS  # admins review every domain


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"policy": {"queue": {"max_totl": 5}}},
            "unknown key 'policy.queue.max_totl' in t.yaml — did you mean 'policy.queue.max_total'?",
        ),
        (
            {"roles": {"reviewers": {"hrr": ["x"]}}},
            "unknown key 'roles.reviewers.hrr' in t.yaml — did you mean 'roles.reviewers.hr'?",
        ),
        ({"console": {"prot": 1}}, "unknown key 'console.prot' in t.yaml — did you mean 'console.port'?"),
        ({"console": {"port": 70000}}, "t.yaml: key 'console.port' must be between"),
        ({"storage": {"path": 3}}, "t.yaml: key 'storage.path'"),
    ],
)
def test_settings_errors_name_the_file_like_the_config_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(parse_config(data, "t.yaml"))
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"schedule": {"reprot": "0 9 * * mon"}},
            "unknown key 'schedule.reprot' in t.yaml — did you mean 'schedule.report'?",
        ),
        (
            {"privacy": {"retention_day": 3}},
            "unknown key 'privacy.retention_day' in t.yaml — did you mean 'privacy.retention_days'?",
        ),
        ({"schedule": {"timezone": "Mars/Base"}}, "t.yaml: key 'schedule.timezone'"),
    ],
)
def test_ops_settings_errors_name_the_file_like_the_config_errors(data: dict[str, object], message: str) -> None:
    from serve.ops_settings import load_ops_settings

    with pytest.raises(ConfigError) as err:
        load_ops_settings(parse_config(data, "t.yaml"))
    assert str(err.value).startswith(message)
