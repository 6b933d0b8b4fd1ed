"""Typed bot settings read from config sections (storage, policy, roles, escalation, console).

Every bad value raises ConfigError naming the key, so `so8t` can print it as one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from bot.config import Config, check_keys, read_duration, read_names, read_number, unknown_key
from bot.errors import ConfigError
from runtime.base import REVIEW_DOMAINS

DEFAULT_DB = "var/so8t.db"
DEFAULT_DEADLINE_S = 4 * 3600.0


def _check(src: str, section: dict[str, Any], name: str, known: set[str]) -> None:
    check_keys(section, name, known, src)


@dataclass(frozen=True)
class QueueSettings:
    max_total: int = 200  # requests waiting for the model, all users together
    max_per_user: int = 20  # requests waiting per user; beyond: "queue full"
    busy_notice_after: int = 3  # tell the asker "busy, queued" when this many are ahead (0 = never)


@dataclass(frozen=True)
class PolicySettings:
    allow_channels: tuple[str, ...] = ()  # empty = every channel
    deny_channels: tuple[str, ...] = ()
    rate_per_minute: float = 20.0  # 0 = no rate limit
    rate_burst: int = 10
    context_turns: int = 6
    context_tokens: int = 512
    queue: QueueSettings = field(default_factory=QueueSettings)


@dataclass(frozen=True)
class RoleSettings:
    """Names are `user` (any platform) or `platform:user`."""

    admins: tuple[str, ...] = ()
    reviewers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def is_admin(self, platform: str, user: str, roles: tuple[str, ...] = ()) -> bool:
        return _member(self.admins, platform, user, roles)

    def is_reviewer(self, platform: str, user: str, domain: str, roles: tuple[str, ...] = ()) -> bool:
        return self.is_admin(platform, user, roles) or _member(self.reviewers.get(domain, ()), platform, user, roles)

    def reviewer_domains(self, platform: str, user: str, roles: tuple[str, ...] = ()) -> tuple[str, ...]:
        return tuple(d for d in REVIEW_DOMAINS if self.is_reviewer(platform, user, d, roles))


def _member(names: tuple[str, ...], platform: str, user: str, roles: tuple[str, ...] = ()) -> bool:
    """By user (`name` or `platform:name`) or by one of the user's platform roles (`platform:role:id`)."""
    return user in names or f"{platform}:{user}" in names or any(f"{platform}:role:{r}" in names for r in roles)


@dataclass(frozen=True)
class EscalationSettings:
    channels: dict[str, dict[str, str]] = field(default_factory=dict)  # platform -> domain -> channel
    deadlines_s: dict[str, float] = field(default_factory=dict)  # domain -> seconds
    default_deadline_s: float = DEFAULT_DEADLINE_S
    check_interval_s: float = 60.0
    fallback_domain: str = "compliance"  # runtime errors and unknown categories

    def channel_for(self, platform: str, domain: str) -> str:
        return self.channels.get(platform, {}).get(domain) or f"{domain}-review"

    def deadline_for(self, domain: str) -> float:
        return self.deadlines_s.get(domain, self.default_deadline_s)


@dataclass(frozen=True)
class ConsoleSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    default_users: bool = True  # `admin` is an admin, `reviewer` reviews every domain


@dataclass(frozen=True)
class BotSettings:
    db_path: str = DEFAULT_DB
    policy: PolicySettings = field(default_factory=PolicySettings)
    roles: RoleSettings = field(default_factory=RoleSettings)
    escalation: EscalationSettings = field(default_factory=EscalationSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    stream_update_s: float = 0.3  # how often a streamed answer's message is updated
    lease_s: float = 30.0  # PostgreSQL replicas: an unfinished event's claim without renewal (storage.lease)


def load_settings(config: Config, db_path: str | None = None) -> BotSettings:
    """Settings from config; the store is --db, then $SO8T_DB, then storage.url, then storage.path, then
    var/so8t.db: a SQLite file path or a postgresql:// URL (bot/store)."""
    src = config.where
    storage = config.section("storage")
    _check(src, storage, "storage", {"path", "url", "lease"})
    lease_s = read_duration(src, storage["lease"], "storage.lease") if storage.get("lease") is not None else 30.0
    url = storage.get("url")
    if url is not None and not (isinstance(url, str) and url.startswith(("postgresql://", "postgres://"))):
        raise ConfigError(f"{src}: key 'storage.url' must be a postgresql://user:password@host:port/db URL")
    path = db_path or os.environ.get("SO8T_DB") or url or storage.get("path") or DEFAULT_DB
    if not isinstance(path, str):
        raise ConfigError(f"{src}: key 'storage.path' must be a file path string")

    pol = config.section("policy")
    _check(src, pol, "policy", {"allow_channels", "deny_channels", "rate_limit", "context", "queue"})
    rate, ctx, queue = ({} if pol.get(k) is None else pol[k] for k in ("rate_limit", "context", "queue"))
    for name, sec in (("rate_limit", rate), ("context", ctx), ("queue", queue)):
        if not isinstance(sec, dict):
            raise ConfigError(f"{src}: key 'policy.{name}' must be a mapping")
    _check(src, rate, "policy.rate_limit", {"per_minute", "burst"})
    _check(src, ctx, "policy.context", {"turns", "tokens"})
    _check(src, queue, "policy.queue", {"max_total", "max_per_user", "busy_notice_after"})
    policy = PolicySettings(
        allow_channels=read_names(src, pol.get("allow_channels"), "policy.allow_channels"),
        deny_channels=read_names(src, pol.get("deny_channels"), "policy.deny_channels"),
        rate_per_minute=read_number(src, rate, "per_minute", "policy.rate_limit", 20, 0, 100000),
        rate_burst=read_number(src, rate, "burst", "policy.rate_limit", 10, 1, 100000, integer=True),
        context_turns=read_number(src, ctx, "turns", "policy.context", 6, 0, 100, integer=True),
        context_tokens=read_number(src, ctx, "tokens", "policy.context", 512, 0, 100000, integer=True),
        queue=QueueSettings(
            max_total=read_number(src, queue, "max_total", "policy.queue", 200, 1, 1_000_000, integer=True),
            max_per_user=read_number(src, queue, "max_per_user", "policy.queue", 20, 1, 1_000_000, integer=True),
            busy_notice_after=read_number(
                src, queue, "busy_notice_after", "policy.queue", 3, 0, 1_000_000, integer=True
            ),
        ),
    )

    rol = config.section("roles")
    _check(src, rol, "roles", {"admins", "reviewers"})
    reviewers_raw = rol.get("reviewers") or {}
    if not isinstance(reviewers_raw, dict):
        raise ConfigError(f"{src}: key 'roles.reviewers' must be a mapping of domain -> list of users")
    reviewers: dict[str, tuple[str, ...]] = {}
    for domain, users in reviewers_raw.items():
        if domain not in REVIEW_DOMAINS:
            raise unknown_key(f"roles.reviewers.{domain}", REVIEW_DOMAINS, src)
        reviewers[domain] = read_names(src, users, f"roles.reviewers.{domain}")
    roles = RoleSettings(admins=read_names(src, rol.get("admins"), "roles.admins"), reviewers=reviewers)

    esc = config.section("escalation")
    _check(src, esc, "escalation", {"channels", "deadlines", "default_deadline", "check_interval", "fallback_domain"})
    channels_raw = esc.get("channels") or {}
    if not isinstance(channels_raw, dict):
        raise ConfigError(f"{src}: key 'escalation.channels' must be a mapping of platform -> domain -> channel")
    channels: dict[str, dict[str, str]] = {}
    for platform, mapping in channels_raw.items():
        if not isinstance(mapping, dict):
            raise ConfigError(f"{src}: key 'escalation.channels.{platform}' must be a mapping of domain -> channel")
        for domain, channel in mapping.items():
            if domain not in REVIEW_DOMAINS:
                raise unknown_key(f"escalation.channels.{platform}.{domain}", REVIEW_DOMAINS, src)
            if not isinstance(channel, str) or not channel:
                raise ConfigError(f"{src}: key 'escalation.channels.{platform}.{domain}' must be a channel name")
        channels[str(platform)] = {str(d): str(c) for d, c in mapping.items()}
    deadlines_raw = esc.get("deadlines") or {}
    if not isinstance(deadlines_raw, dict):
        raise ConfigError(f"{src}: key 'escalation.deadlines' must be a mapping of domain -> duration")
    deadlines: dict[str, float] = {}
    for domain, value in deadlines_raw.items():
        if domain not in REVIEW_DOMAINS:
            raise unknown_key(f"escalation.deadlines.{domain}", REVIEW_DOMAINS, src)
        deadlines[domain] = read_duration(src, value, f"escalation.deadlines.{domain}")
    fallback = esc.get("fallback_domain", "compliance")
    if fallback not in REVIEW_DOMAINS:
        raise ConfigError(f"{src}: key 'escalation.fallback_domain' must be one of {', '.join(REVIEW_DOMAINS)}")
    escalation = EscalationSettings(
        channels=channels,
        deadlines_s=deadlines,
        default_deadline_s=read_duration(
            src, esc.get("default_deadline", DEFAULT_DEADLINE_S), "escalation.default_deadline"
        ),
        check_interval_s=read_duration(src, esc.get("check_interval", 60), "escalation.check_interval"),
        fallback_domain=fallback,
    )

    con = config.section("console")
    _check(src, con, "console", {"host", "port", "default_users"})
    host = con.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise ConfigError(f"{src}: key 'console.host' must be a host name or address")
    default_users = con.get("default_users", True)
    if not isinstance(default_users, bool):
        raise ConfigError(f"{src}: key 'console.default_users' must be true or false")
    console = ConsoleSettings(
        host=host,
        port=read_number(src, con, "port", "console", 8765, 0, 65535, integer=True),
        default_users=default_users,
    )
    if console.default_users:
        roles = RoleSettings(
            admins=(*roles.admins, "console:admin"),
            reviewers={d: (*roles.reviewers.get(d, ()), "console:reviewer") for d in REVIEW_DOMAINS},
        )
    return BotSettings(
        db_path=path, policy=policy, roles=roles, escalation=escalation, console=console, lease_s=lease_s
    )
