"""Typed settings of the scheduled jobs: `schedule`, `reports`, `feedback`, `retrain`, `audit` and
`privacy` config sections.

Every bad value raises ConfigError naming the key (one line), like bot.settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import Config, check_keys, read_duration, read_number
from bot.errors import ConfigError

DEFAULT_CRON = "0 9 * * mon"  # weekly, Monday 09:00
DEFAULT_TZ = "Asia/Tokyo"
DEFAULT_AUDIT_CRON = "30 3 * * *"  # daily, 03:30: checkpoint the chain, purge originals past retention
DEFAULT_KB_CRON = "15 * * * *"  # hourly: re-index the knowledge folders (changed files only)
JOB_NAMES = ("report", "feedback", "retrain", "audit", "kb")
REPORT_FORMATS = ("md", "html", "csv", "json")


@dataclass(frozen=True)
class JobSchedule:
    name: str
    cron: str | None  # None = off
    timezone: str = DEFAULT_TZ

    @property
    def enabled(self) -> bool:
        return self.cron is not None


@dataclass(frozen=True)
class ScheduleSettings:
    timezone: str = DEFAULT_TZ
    jobs: dict[str, JobSchedule] = field(
        default_factory=lambda: {
            "report": JobSchedule("report", DEFAULT_CRON),
            "feedback": JobSchedule("feedback", DEFAULT_CRON),
            "retrain": JobSchedule("retrain", None),
            "audit": JobSchedule("audit", DEFAULT_AUDIT_CRON),
            "kb": JobSchedule("kb", DEFAULT_KB_CRON),
        }
    )
    lock_ttl_s: float = 6 * 3600.0  # a lock older than this is taken over (its process died)
    max_catchup_days: float = 400.0  # how far back a missed run is looked for


@dataclass(frozen=True)
class ReportSettings:
    dir: str = "reports"
    formats: tuple[str, ...] = REPORT_FORMATS
    channels: dict[str, str] = field(default_factory=dict)  # platform -> admin channel
    timezone: str = DEFAULT_TZ  # weeks (--week, the weekly job) start Monday 00:00 here


@dataclass(frozen=True)
class FeedbackSettings:
    dir: str = "training/data/feedback"


@dataclass(frozen=True)
class RetrainSettings:
    models_dir: str = "var/models"  # promoted heads, one file each, plus registry.json
    versions_dir: str = "training/data/versions"  # versioned datasets (seed + feedback) with manifests
    max_refuse_recall_drop: float = 0.01
    epochs: int = 40


@dataclass(frozen=True)
class AuditSettings:
    checkpoint: str | None = None  # signed checkpoints (JSONL); None: $SO8T_AUDIT_CHECKPOINT or the default


@dataclass(frozen=True)
class PrivacySettings:
    retention_days: float = 30.0  # encrypted originals (and never-finished raw events) are purged after this


@dataclass(frozen=True)
class OpsSettings:
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    feedback: FeedbackSettings = field(default_factory=FeedbackSettings)
    retrain: RetrainSettings = field(default_factory=RetrainSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)


def _tz(src: str, value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{src}: key '{where}' must be a time zone name like Asia/Tokyo or UTC")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{src}: key '{where}' is not a known time zone: {value!r}") from None
    return value


def check_cron(src: str, expr: str, tz: str, where: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expr, timezone=tz)
    except ValueError as exc:
        raise ConfigError(
            f"{src}: key '{where}' is not a cron expression (minute hour day month weekday): "
            f"{expr!r} ({str(exc).splitlines()[0]})"
        ) from None
    return expr


def _job(src: str, name: str, value: Any, default_tz: str, default_cron: str | None) -> JobSchedule:
    where = f"schedule.{name}"
    if value is None and name not in ("report", "feedback", "audit", "kb"):
        return JobSchedule(name, None, default_tz)
    if value is False or value == "off":
        return JobSchedule(name, None, default_tz)
    if value is None or value is True:
        return JobSchedule(name, default_cron or DEFAULT_CRON, default_tz)
    if isinstance(value, str):
        return JobSchedule(name, check_cron(src, value, default_tz, where), default_tz)
    if isinstance(value, dict):
        check_keys(value, where, {"cron", "timezone", "enabled"}, src)
        tz = _tz(src, value.get("timezone", default_tz), f"{where}.timezone")
        enabled = value.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{src}: key '{where}.enabled' must be true or false")
        cron = value.get("cron", default_cron or DEFAULT_CRON)
        if not isinstance(cron, str):
            raise ConfigError(f"{src}: key '{where}.cron' must be a cron expression string")
        return JobSchedule(name, check_cron(src, cron, tz, f"{where}.cron") if enabled else None, tz)
    raise ConfigError(f"{src}: key '{where}' must be a cron string, a mapping (cron, timezone) or off")


def load_ops_settings(config: Config) -> OpsSettings:
    src = config.where
    sch = config.section("schedule")
    check_keys(sch, "schedule", {"timezone", "lock_ttl", *JOB_NAMES}, src)
    tz = _tz(src, sch.get("timezone", DEFAULT_TZ), "schedule.timezone")
    jobs = {
        "report": _job(src, "report", sch.get("report"), tz, DEFAULT_CRON),
        "feedback": _job(src, "feedback", sch.get("feedback"), tz, DEFAULT_CRON),
        "retrain": _job(src, "retrain", sch.get("retrain"), tz, None),
        "audit": _job(src, "audit", sch.get("audit"), tz, DEFAULT_AUDIT_CRON),
        "kb": _job(src, "kb", sch.get("kb"), tz, DEFAULT_KB_CRON),
    }
    schedule = ScheduleSettings(
        timezone=tz, jobs=jobs, lock_ttl_s=read_duration(src, sch.get("lock_ttl", 6 * 3600), "schedule.lock_ttl")
    )

    rep = config.section("reports")
    check_keys(rep, "reports", {"dir", "formats", "channels", "timezone"}, src)
    rdir = rep.get("dir", "reports")
    if not isinstance(rdir, str) or not rdir:
        raise ConfigError(f"{src}: key 'reports.dir' must be a directory path")
    formats = rep.get("formats", list(REPORT_FORMATS))
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list) or not formats or any(f not in REPORT_FORMATS for f in formats):
        raise ConfigError(f"{src}: key 'reports.formats' must be a list of {', '.join(REPORT_FORMATS)}")
    channels = rep.get("channels") or {}
    if not isinstance(channels, dict) or not all(
        isinstance(v, (str, int)) and not isinstance(v, bool) for v in channels.values()
    ):
        raise ConfigError(f"{src}: key 'reports.channels' must be a mapping of platform -> channel")
    reports = ReportSettings(
        dir=rdir,
        formats=tuple(dict.fromkeys(formats)),
        channels={str(k): str(v) for k, v in channels.items()},
        timezone=_tz(src, rep.get("timezone", tz), "reports.timezone"),
    )

    fb = config.section("feedback")
    check_keys(fb, "feedback", {"dir"}, src)
    fdir = fb.get("dir", "training/data/feedback")
    if not isinstance(fdir, str) or not fdir:
        raise ConfigError(f"{src}: key 'feedback.dir' must be a directory path")

    rt = config.section("retrain")
    check_keys(rt, "retrain", {"models_dir", "versions_dir", "max_refuse_recall_drop", "epochs"}, src)
    for key in ("models_dir", "versions_dir"):
        if key in rt and (not isinstance(rt[key], str) or not rt[key]):
            raise ConfigError(f"{src}: key 'retrain.{key}' must be a directory path")
    retrain = RetrainSettings(
        models_dir=rt.get("models_dir", "var/models"),
        versions_dir=rt.get("versions_dir", "training/data/versions"),
        max_refuse_recall_drop=read_number(src, rt, "max_refuse_recall_drop", "retrain", 0.01, 0.0, 1.0),
        epochs=read_number(src, rt, "epochs", "retrain", 40, 1, 10000, integer=True),
    )

    aud = config.section("audit")
    check_keys(aud, "audit", {"checkpoint"}, src)
    checkpoint = aud.get("checkpoint")
    if checkpoint is not None and (not isinstance(checkpoint, str) or not checkpoint):
        raise ConfigError(f"{src}: key 'audit.checkpoint' must be a file path")

    priv = config.section("privacy")
    check_keys(priv, "privacy", {"retention_days"}, src)
    privacy = PrivacySettings(retention_days=read_number(src, priv, "retention_days", "privacy", 30.0, 0.0, 36500.0))
    return OpsSettings(schedule, reports, FeedbackSettings(fdir), retrain, AuditSettings(checkpoint), privacy)
