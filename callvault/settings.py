"""One frozen, typed Settings object built from callvault.toml and CALLVAULT_* overrides.

Every section is a frozen dataclass; the loader walks their fields, so a new setting is one
annotated line. Errors name the key (as written in the file *and* as an environment variable)
and the bad value.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from consent.settings import ConsentSettings
from retention_jobs.errors import RetentionError
from storage.errors import CallvaultError, StorageError
from telephony.settings import SipSettings

if TYPE_CHECKING:
    from retention_jobs.policy import RetentionPolicy

ENV_PREFIX = "CALLVAULT_"
CONFIG_ENV = "CALLVAULT_CONFIG"
DEFAULT_CONFIG = "callvault.toml"


class ConfigError(CallvaultError):
    """Invalid configuration: names the key and the bad value."""


@dataclasses.dataclass(frozen=True)
class Secret:
    """A string that never shows itself in repr or logs."""

    value: str

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


@dataclasses.dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/callvault.db"
    echo: bool = False


@dataclasses.dataclass(frozen=True)
class StoreSettings:
    backend: Literal["filesystem", "s3"] = "filesystem"
    path: Path = Path("var/objects")


@dataclasses.dataclass(frozen=True)
class S3Settings:
    endpoint_url: str | None = None
    bucket: str = "callvault-recordings"
    region: str = "us-east-1"
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    path_style: bool = False
    multipart_threshold_mb: int = 16
    multipart_chunk_mb: int = 8
    connect_timeout_s: int = 5
    max_attempts: int = 3
    create_bucket: bool = False


@dataclasses.dataclass(frozen=True)
class KeySettings:
    mode: Literal["local", "hpke", "aws-kms"] = "local"
    dir: Path = Path("var/keys")
    kms_key_id: str | None = None
    kms_region: str | None = None
    kms_endpoint_url: str | None = None


@dataclasses.dataclass(frozen=True)
class SpoolSettings:
    dir: Path = Path("var/spool")


@dataclasses.dataclass(frozen=True)
class AudioSettings:
    format: Literal["opus", "wav"] = "opus"
    # "later": a WAV is committed as it is and `callvault worker` compresses it to `format`;
    # "at-ingest": transcoded before the commit (the recorder node does the work).
    compress: Literal["later", "at-ingest"] = "later"
    opus_bitrate_kbps: int = 24
    opus_complexity: int = 5
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    """`callvault worker` processes (compression); `serve` starts `processes` of them."""

    processes: int = 1
    lease_s: int = 900  # a dead worker's job is taken over after this
    poll_s: int = 5
    retry_s: int = 60  # first wait after a failure, doubled each time (at most 64 times)
    # The WAV stays this long after its compact form is committed: a playback grant opened on
    # it reads it to the end of the grant ([portal] playback_grant_s, 1800 s by default).
    old_object_grace_s: int = 1800


def _default_classes() -> Mapping[str, str]:
    return types.MappingProxyType({"standard": "90 days", "consent-only": "90 days"})


@dataclasses.dataclass(frozen=True)
class RetentionSettings:
    """[retention], its [retention.classes] table and its [[retention.rules]] array.

    A class is a name and a period ("90 days", "2 years"); a rule is a table with `class` and a
    `service` and/or `case_ref` pattern ("COMP-*"). Validated into a RetentionPolicy at load.
    """

    policy_id: str = "default"
    default_class: str = "standard"
    consent_only_class: str = "consent-only"
    classes: Mapping[str, str] = dataclasses.field(default_factory=_default_classes)
    rules: tuple[Mapping[str, str], ...] = ()
    batch_size: int = 200
    claim_timeout_s: int = 900


@dataclasses.dataclass(frozen=True)
class ScheduleSettings:
    """What `callvault serve` runs when: the purge (cron) and the spool resume (interval)."""

    purge_enabled: bool = True
    purge_cron: str = "0 2 * * *"
    timezone: str = "UTC"
    purge_misfire_grace_s: int = 86400
    resume_interval_s: int = 300
    anchor_interval_s: int = 3600  # the audit chain's head copied to the object store
    # The daily check of data-subject requests due within requests_due_days (or overdue).
    requests_due_cron: str = "0 7 * * *"
    requests_due_days: int = 7


@dataclasses.dataclass(frozen=True)
class IdentitySettings:
    """How caller numbers are read: numbers written nationally belong to default_region."""

    default_region: str = "GB"


@dataclasses.dataclass(frozen=True)
class PortalSettings:
    """The web portal and API. No signing secret exists: sessions live in the catalogue and the
    cookie holds only a random id, so there is no default secret to forget to change."""

    host: str = "127.0.0.1"
    port: int = 8080
    session_idle_timeout_s: int = 1800
    playback_grant_s: int = 1800
    max_failed_logins: int = 5
    failed_login_window_s: int = 900
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # TLS ends at a reverse proxy in front of us: cookies are still sent Secure only.
    behind_tls_proxy: bool = False
    # `callvault portal` only: this many uvicorn worker processes on one socket (the platform
    # hooks' decision rate grows with them; `callvault serve` runs one in its own process).
    workers: int = 1


@dataclasses.dataclass(frozen=True)
class HooksSettings:
    """The platform hooks (/hooks/v1): uploads and how long a platform token is trusted."""

    max_upload_mb: int = 2048  # a 2-hour 48 kHz stereo 16-bit WAV is ~1.4 GB
    answer_within_s: int = 10  # an upload waits this long for its job, then is 202 queued
    token_cache_s: int = 5  # a revoked token is refused at most this long after


@dataclasses.dataclass(frozen=True)
class WebhooksSettings:
    """Outbound webhooks (Standard Webhooks). Private and loopback targets are refused
    unless allowed (SSRF)."""

    allow_private: bool = False
    timeout_s: int = 10
    poll_s: int = 2
    give_up_after_s: int = 3 * 86400


@dataclasses.dataclass(frozen=True)
class MetricsSettings:
    """Prometheus metrics, /healthz and /readyz on a port of each process's own (0: none).

    `port` is the serving process's (`serve`, `agent` or `portal`); `serve`'s compression
    workers take worker_port, worker_port + 1, … (0: none). No authentication on these ports:
    bind them to an interface only the monitoring system reaches."""

    host: str = "127.0.0.1"
    port: int = 0
    worker_port: int = 0
    refresh_s: int = 5  # readiness and the catalogue's queue figures, read this often
    audit_verify_interval_s: int = 600  # the audit chain is walked this often, not per scrape


@dataclasses.dataclass(frozen=True)
class LoggingSettings:
    """How long-running processes log to stderr: "text" lines or one JSON object a line."""

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclasses.dataclass(frozen=True)
class Settings:
    """The whole configuration; built once by `load_settings`."""

    base_dir: Path
    config_file: Path | None
    database: DatabaseSettings
    store: StoreSettings
    s3: S3Settings
    keys: KeySettings
    spool: SpoolSettings
    audio: AudioSettings
    retention: RetentionSettings = dataclasses.field(default_factory=RetentionSettings)
    schedule: ScheduleSettings = dataclasses.field(default_factory=ScheduleSettings)
    sip: SipSettings = dataclasses.field(default_factory=SipSettings)
    consent: ConsentSettings = dataclasses.field(default_factory=ConsentSettings)
    identity: IdentitySettings = dataclasses.field(default_factory=IdentitySettings)
    portal: PortalSettings = dataclasses.field(default_factory=PortalSettings)
    hooks: HooksSettings = dataclasses.field(default_factory=HooksSettings)
    webhooks: WebhooksSettings = dataclasses.field(default_factory=WebhooksSettings)
    worker: WorkerSettings = dataclasses.field(default_factory=WorkerSettings)
    metrics: MetricsSettings = dataclasses.field(default_factory=MetricsSettings)
    logging: LoggingSettings = dataclasses.field(default_factory=LoggingSettings)

    @property
    def var_dir(self) -> Path:
        return self.base_dir / "var"


SECTIONS: dict[str, type[Any]] = {
    "database": DatabaseSettings,
    "store": StoreSettings,
    "s3": S3Settings,
    "keys": KeySettings,
    "spool": SpoolSettings,
    "audio": AudioSettings,
    "retention": RetentionSettings,
    "schedule": ScheduleSettings,
    "sip": SipSettings,
    "consent": ConsentSettings,
    "identity": IdentitySettings,
    "portal": PortalSettings,
    "hooks": HooksSettings,
    "webhooks": WebhooksSettings,
    "worker": WorkerSettings,
    "metrics": MetricsSettings,
    "logging": LoggingSettings,
}

_RANGES: dict[str, tuple[int, int]] = {
    "s3.multipart_threshold_mb": (5, 5120),
    "s3.multipart_chunk_mb": (5, 5120),
    "s3.connect_timeout_s": (1, 300),
    "s3.max_attempts": (1, 20),
    "audio.opus_bitrate_kbps": (6, 510),
    "audio.opus_complexity": (0, 10),
    "sip.port": (1, 65535),
    "sip.rtp_port": (1024, 65000),
    "sip.max_calls": (1, 1000),
    "sip.control_port": (0, 65535),
    "sip.pjsua_log_level": (0, 6),
    "sip.handoff_workers": (1, 16),
    "sip.invite_rate_per_min": (1, 60000),
    "sip.invite_burst": (1, 10000),
    "sip.ack_timeout_s": (1, 32),
    "sip.tls_port": (0, 65535),
    "consent.objection_grace_s": (0, 60),
    "consent.code_timeout_s": (1, 30),
    "portal.port": (0, 65535),
    "portal.workers": (1, 32),
    "portal.session_idle_timeout_s": (60, 86400),
    "portal.playback_grant_s": (60, 86400),
    "portal.max_failed_logins": (1, 100),
    "portal.failed_login_window_s": (60, 86400),
    "retention.batch_size": (1, 1000),
    "retention.claim_timeout_s": (1, 7 * 86400),
    "schedule.purge_misfire_grace_s": (1, 7 * 86400),
    "schedule.resume_interval_s": (10, 86400),
    "schedule.anchor_interval_s": (60, 7 * 86400),
    "schedule.requests_due_days": (0, 366),
    "hooks.max_upload_mb": (1, 1024 * 1024),
    "hooks.answer_within_s": (0, 3600),
    "hooks.token_cache_s": (0, 300),
    "webhooks.timeout_s": (1, 120),
    "webhooks.poll_s": (1, 3600),
    "webhooks.give_up_after_s": (60, 30 * 86400),
    "worker.processes": (0, 64),
    "worker.lease_s": (1, 7 * 86400),
    "worker.poll_s": (1, 3600),
    "worker.retry_s": (1, 86400),
    "worker.old_object_grace_s": (0, 86400),
    "metrics.port": (0, 65535),
    "metrics.worker_port": (0, 65535),
    "metrics.refresh_s": (1, 300),
    "metrics.audit_verify_interval_s": (10, 7 * 86400),
}


def load_settings(
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    *,
    full: bool = True,
) -> Settings:
    """Read the TOML file (if any), apply CALLVAULT_* overrides, validate, resolve paths.

    Every key is parsed and type-checked. ``full=False`` leaves out the checks that build the
    retention policy, the schedule triggers and the telephone region (APScheduler and
    libphonenumber are slow to import): for a short-lived client, such as `callvault calls
    pause`, that uses none of them.
    """
    env = dict(os.environ if environ is None else environ)
    cwd = (cwd or Path.cwd()).resolve()
    if config_path is None and env.get(CONFIG_ENV):
        config_path = Path(env[CONFIG_ENV])
    explicit = config_path is not None
    path = (cwd / (config_path or Path(DEFAULT_CONFIG))).resolve()
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read configuration: {exc}") from exc
    elif explicit:
        raise ConfigError(
            f"configuration file {path} does not exist (from {CONFIG_ENV} or --config)"
        )
    base_dir = path.parent if path.is_file() else cwd
    for section in raw:
        if section not in SECTIONS:
            raise ConfigError(
                f"{path.name}: unknown section [{section}]; allowed: {', '.join(SECTIONS)}"
            )
    overrides = _env_overrides(env)
    built = {
        name: _build_section(name, cls, raw.get(name, {}), overrides.get(name, {}), base_dir)
        for name, cls in SECTIONS.items()
    }
    settings = Settings(base_dir=base_dir, config_file=path if path.is_file() else None, **built)
    _cross_check(settings, full=full)
    return settings


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    known = {
        f"{ENV_PREFIX}{s.upper()}_{f.name.upper()}": (s, f.name)
        for s, cls in SECTIONS.items()
        for f in dataclasses.fields(cls)
    }
    result: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        if name not in known:
            raise ConfigError(f"unknown environment variable {name}; see README 'Configuration'")
        section, key = known[name]
        result.setdefault(section, {})[key] = value
    return result


def _build_section(name: str, cls: type[Any], raw: Any, env: dict[str, str], base_dir: Path) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            raise ConfigError(
                f"unknown key {name}.{key}; allowed in [{name}]: {', '.join(sorted(names))}"
            )
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        dotted = f"{name}.{f.name}"
        if f.name in env:
            source = f"{ENV_PREFIX}{name.upper()}_{f.name.upper()}"
            values[f.name] = _convert(dotted, source, hints[f.name], env[f.name], from_env=True)
        elif f.name in raw:
            values[f.name] = _convert(dotted, dotted, hints[f.name], raw[f.name], from_env=False)
        elif f.default_factory is not dataclasses.MISSING:
            values[f.name] = f.default_factory()
        else:
            values[f.name] = f.default
        value = values[f.name]
        if isinstance(value, Path) and not value.is_absolute():
            values[f.name] = base_dir / value
        if dotted in _RANGES and value is not None:
            lo, hi = _RANGES[dotted]
            if not lo <= value <= hi:
                raise ConfigError(f"{dotted} = {value!r} is out of range {lo}..{hi}")
    if name == "database":
        values["url"] = _resolve_sqlite_url(values["url"], base_dir)
    return cls(**values)


def _convert(key: str, source: str, hint: Any, value: Any, *, from_env: bool) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Mapping:  # a TOML table, e.g. [retention.classes]
        value = _toml_value(source, value, dict) if from_env else value
        if not isinstance(value, dict):
            raise ConfigError(f"{source} = {value!r} must be a table")
        return types.MappingProxyType(
            {
                k: _convert(
                    f"{key}.{k}",
                    source if from_env else f"{source}.{k}",
                    args[1],
                    v,
                    from_env=False,
                )
                for k, v in value.items()
            }
        )
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:  # an array (of tables)
        value = _toml_value(source, value, list) if from_env else value
        if not isinstance(value, list):
            raise ConfigError(f"{source} = {value!r} must be an array")
        return tuple(
            _convert(
                f"{key}[{i}]", source if from_env else f"{source}[{i}]", args[0], v, from_env=False
            )
            for i, v in enumerate(value, start=1)
        )
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if from_env and value == "":
            return None
        return _convert(key, source, inner[0], value, from_env=from_env)
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{source} = {value!r} is not allowed; allowed values: {allowed}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if from_env and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{source} = {value!r} is not a boolean (true/false)")
    if hint is int:
        if from_env and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"{source} = {value!r} is not an integer") from None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{source} = {value!r} is not an integer")  # 5070.9 is not 5070
    if hint is float:
        if from_env and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{source} = {value!r} is not a number") from None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{source} = {value!r} is not a number")
    if hint in (str, Path, Secret):
        if not isinstance(value, str) or (hint is not str and not value):
            raise ConfigError(f"{source} = {value!r} is not a non-empty string")
        return hint(value) if hint is not str else value
    raise ConfigError(f"{key}: unsupported setting type {hint!r}")  # programming error


def _toml_value(source: str, text: str, kind: type[Any]) -> Any:
    """An environment value holding a TOML inline table or array, e.g. '{standard = "90 days"}'."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{source} = {text!r} is not a TOML inline "
            f"{'table' if kind is dict else 'array'}: {exc}"
        ) from None
    return value


def retention_policy(r: RetentionSettings) -> RetentionPolicy:
    """The validated retention policy of the [retention] section."""
    from retention_jobs.policy import RetentionPolicy

    return RetentionPolicy.from_config(
        policy_id=r.policy_id,
        classes=r.classes,
        rules=r.rules,
        default_class=r.default_class,
        consent_only_class=r.consent_only_class,
    )


def _resolve_sqlite_url(url: str, base_dir: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        rel = url[len(prefix) :]
        if rel and rel != ":memory:":
            return prefix + str(base_dir / rel)
    return url


def _cross_check(s: Settings, *, full: bool) -> None:
    if not s.database.url.startswith(("sqlite", "postgresql")):
        raise ConfigError(
            f"database.url = {s.database.url!r}: only sqlite:/// and postgresql+psycopg:// "
            "are supported"
        )
    if s.store.backend == "s3" and not s.s3.bucket:
        raise ConfigError("s3.bucket must be set when store.backend = 's3'")
    if s.keys.mode == "aws-kms" and not s.keys.kms_key_id:
        raise ConfigError("keys.kms_key_id must be set when keys.mode = 'aws-kms'")
    bad = set(s.sip.transports) - {"udp", "tcp"}
    if bad or not s.sip.transports:
        raise ConfigError(
            f"sip.transports = {list(s.sip.transports)!r}: allowed values are 'udp' and 'tcp'"
        )
    if not s.sip.queue_uri.lower().startswith(("sip:", "sips:")):
        raise ConfigError(f"sip.queue_uri = {s.sip.queue_uri!r} is not a sip: URI")
    c = s.consent
    if len(c.objection_digit) != 1 or c.objection_digit not in "0123456789*#":
        raise ConfigError(f"consent.objection_digit = {c.objection_digit!r} must be one of 0-9*#")
    for key, code in (("pause_code", c.pause_code), ("resume_code", c.resume_code)):
        if not code or any(ch not in "0123456789*#" for ch in code):
            raise ConfigError(f"consent.{key} = {code!r} must be DTMF digits (0-9, *, #)")
    if c.pause_code == c.resume_code:
        raise ConfigError(f"consent.pause_code and resume_code are both {c.pause_code!r}")
    _check_notices(c.notices)
    _check_portal(s.portal)
    _check_sip_tls(s.sip)
    if full:
        _check_policy_schedule_region(s)


def _check_policy_schedule_region(s: Settings) -> None:
    from retention_jobs.triggers import cron_trigger, zone
    from storage.identity import check_region

    try:
        retention_policy(s.retention)
        zone(s.schedule.timezone)
        cron_trigger(s.schedule.purge_cron, s.schedule.timezone)
        cron_trigger(s.schedule.requests_due_cron, s.schedule.timezone)
    except RetentionError as exc:
        raise ConfigError(str(exc)) from exc
    try:
        check_region(s.identity.default_region)
    except StorageError:
        raise ConfigError(
            f"identity.default_region = {s.identity.default_region!r} is not a telephone region "
            "libphonenumber knows (an ISO 3166 code such as 'GB')"
        ) from None


def _check_notices(entries: tuple[Mapping[str, str], ...]) -> None:
    from consent.notices import NOTICE_KEYS, NOTICE_REQUIRED

    for i, entry in enumerate(entries, start=1):
        where = f"consent.notices[{i}]"
        unknown = sorted(set(entry) - set(NOTICE_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown key {where}.{unknown[0]}; allowed in [[consent.notices]]: "
                + ", ".join(sorted(NOTICE_KEYS))
            )
        missing = [k for k in NOTICE_REQUIRED if k not in entry]
        if missing:
            raise ConfigError(
                f"{where} lacks {', '.join(missing)}; required in [[consent.notices]]: "
                + ", ".join(NOTICE_REQUIRED)
            )


def _check_sip_tls(sip: SipSettings) -> None:
    """TLS files exist and match, and SRTP's keys (SDES, in the SDP) never cross in clear."""
    if sip.tls_port == 0:
        for key in ("tls_cert", "tls_key", "tls_ca"):
            if getattr(sip, key) is not None:
                raise ConfigError(f"sip.{key} is set but sip.tls_port = 0 (no TLS listener)")
        if sip.srtp == "mandatory":
            raise ConfigError(
                "sip.srtp = 'mandatory' needs SIP over TLS (its keys travel in the SDP): "
                "set sip.tls_port, sip.tls_cert and sip.tls_key"
            )
        return
    if sip.tls_port == sip.port:
        raise ConfigError(f"sip.tls_port = {sip.tls_port} is also sip.port")
    for key in ("tls_cert", "tls_key"):
        if getattr(sip, key) is None:
            raise ConfigError(f"sip.{key} must be set when sip.tls_port is set")
    for key in ("tls_cert", "tls_key", "tls_ca"):
        path = getattr(sip, key)
        if path is not None and not path.is_file():
            raise ConfigError(f"sip.{key} = {str(path)!r}: no such file")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.load_cert_chain(str(sip.tls_cert), str(sip.tls_key))
    except ssl.SSLError as exc:
        raise ConfigError(
            f"sip.tls_cert = {str(sip.tls_cert)!r} and sip.tls_key = {str(sip.tls_key)!r} "
            f"are not a certificate and its private key (PEM): {exc.reason or exc}"
        ) from None
    if sip.tls_ca is not None:
        try:
            ctx.load_verify_locations(str(sip.tls_ca))
        except ssl.SSLError as exc:
            raise ConfigError(
                f"sip.tls_ca = {str(sip.tls_ca)!r} is not PEM CA certificates: {exc.reason or exc}"
            ) from None
    elif sip.tls_verify_client or sip.tls_verify_server:
        which = "tls_verify_client" if sip.tls_verify_client else "tls_verify_server"
        raise ConfigError(f"sip.{which} = true needs sip.tls_ca (the CA that signs the peers)")


def _check_portal(p: PortalSettings) -> None:
    if (p.tls_cert is None) != (p.tls_key is None):
        raise ConfigError("portal.tls_cert and portal.tls_key must be set together (or neither)")
    for key, path in (("tls_cert", p.tls_cert), ("tls_key", p.tls_key)):
        if path is not None and not path.is_file():
            raise ConfigError(f"portal.{key} = {str(path)!r}: no such file")
    loopback = p.host in ("127.0.0.1", "::1", "localhost")
    if not loopback and p.tls_cert is None and not p.behind_tls_proxy:
        raise ConfigError(
            f"portal.host = {p.host!r} is reachable from other machines: set portal.tls_cert and "
            "portal.tls_key, or portal.behind_tls_proxy = true when a proxy terminates TLS"
        )
