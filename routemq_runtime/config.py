"""Typed configuration from the environment, with ``.env`` loaded first.

Every variable is parsed and checked at start-up; all bad values are reported together, each by
its environment name (``MQTT_PORT='eighty' is not an integer``). Secrets can come from files
through ``*_FILE`` variables and are never shown by ``repr`` or ``str``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
PROTOCOLS = ("5", "3.1.1")
#: How worker slots speak MQTT: RouteMQ's own asyncio client, or paho-mqtt (the tools always use
#: paho-mqtt).
TRANSPORTS = ("native", "paho")
SECRET_FIELDS = frozenset({"mqtt_password"})


class ConfigError(ValueError):
    """One or more environment variables are invalid; ``problems`` lists them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class _Invalid(ValueError):
    pass


def _integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise _Invalid("is not an integer") from None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise _Invalid(f"must be {bounds}")
        return value

    return parse


def _number(low: float = 0.0) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise _Invalid("is not a number") from None
        if value < low:
            raise _Invalid(f"must be at least {low:g}")
        return value

    return parse


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _Invalid("is not a boolean (use true/false, 1/0, yes/no, on/off)")


def _choice(options: tuple[str, ...], upper: bool = False) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().upper() if upper else text.strip()
        if value not in options:
            raise _Invalid(f"must be one of {', '.join(options)}")
        return value

    return parse


def _text(text: str) -> str:
    return text


def _non_empty(text: str) -> str:
    if not text.strip():
        raise _Invalid("must not be empty")
    return text.strip()


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_optional(text: str) -> Any:
        return None if text.strip() == "" else parse(text)

    return parse_optional


#: Where failed messages are kept unless ROUTEMQ_FAILED_STORE says otherwise (relative to the app).
DEFAULT_FAILED_STORE = "sqlite:///storage/failed.sqlite3"


def _store_url(text: str) -> str:
    value = text.strip()
    if value.lower() == "none":
        return "none"
    if not value.startswith("sqlite:///") or len(value) == len("sqlite:///"):
        raise _Invalid("must be sqlite:///PATH (relative to the app) or none")
    return value


def _env(name: str, parse: Callable[[str], Any], default: Any, **extra: Any) -> Any:
    return field(default=default, metadata={"env": name, "parse": parse, **extra})


@dataclass(frozen=True)
class Config:
    mqtt_broker: str = _env("MQTT_BROKER", _non_empty, "localhost")
    mqtt_port: int = _env("MQTT_PORT", _integer(1, 65535), 1883)
    mqtt_username: str | None = _env("MQTT_USERNAME", _optional(_text), None)
    mqtt_password: str | None = field(
        default=None,
        repr=False,
        metadata={"env": "MQTT_PASSWORD", "parse": _optional(_text), "secret": True},
    )
    mqtt_client_id: str | None = _env("MQTT_CLIENT_ID", _optional(_non_empty), None)
    mqtt_group_name: str = _env("MQTT_GROUP_NAME", _non_empty, "routemq")
    mqtt_protocol: str = _env("MQTT_PROTOCOL", _choice(PROTOCOLS), "5")
    mqtt_transport: str = _env("MQTT_TRANSPORT", _choice(TRANSPORTS), "native")
    #: MQTT 5 only (told to the broker, which then never sends a worker a bigger message).
    mqtt_max_packet_size: int | None = _env(
        "MQTT_MAX_PACKET_SIZE", _optional(_integer(64, 268_435_460)), None
    )
    mqtt_keepalive: int = _env("MQTT_KEEPALIVE", _integer(5, 65535), 60)
    mqtt_session_expiry: int = _env("MQTT_SESSION_EXPIRY", _integer(0), 3600)
    mqtt_tls: bool = _env("MQTT_TLS", _boolean, False)
    mqtt_tls_ca_file: str | None = _env("MQTT_TLS_CA_FILE", _optional(_text), None)
    mqtt_tls_cert_file: str | None = _env("MQTT_TLS_CERT_FILE", _optional(_text), None)
    mqtt_tls_key_file: str | None = _env("MQTT_TLS_KEY_FILE", _optional(_text), None)
    mqtt_tls_insecure: bool = _env("MQTT_TLS_INSECURE", _boolean, False)
    worker_count: int | None = _env("WORKER_COUNT", _optional(_integer(1)), None)
    worker_auto_scale: bool = _env("WORKER_AUTO_SCALE", _boolean, False)
    worker_min_count: int = _env("WORKER_MIN_COUNT", _integer(1), 1)
    worker_max_count: int = _env("WORKER_MAX_COUNT", _integer(1), 10)
    worker_concurrency: int = _env("WORKER_CONCURRENCY", _integer(1, 65535), 100)
    #: What one worker handles per second, for the design page's rate rule
    #: (``AdaptiveWorkerManager.calculate_optimal_workers``).
    worker_messages_per_second: float = _env("WORKER_MESSAGES_PER_SECOND", _number(0.001), 100.0)
    log_level: str = _env("ROUTEMQ_LOG_LEVEL", _choice(LOG_LEVELS, upper=True), "INFO")
    log_json: bool = _env("ROUTEMQ_LOG_JSON", _boolean, False)
    # One INFO line per handled message (always at DEBUG); off by default, as it costs time.
    log_messages: bool = _env("ROUTEMQ_LOG_MESSAGES", _boolean, False)
    health_port: int | None = _env("ROUTEMQ_HEALTH_PORT", _optional(_integer(1, 65535)), None)
    health_host: str = _env("ROUTEMQ_HEALTH_HOST", _non_empty, "0.0.0.0")
    heartbeat_timeout: float = _env("ROUTEMQ_HEARTBEAT_TIMEOUT", _number(1.0), 30.0)
    retry_max_attempts: int = _env("ROUTEMQ_RETRY_MAX_ATTEMPTS", _integer(1), 3)
    retry_base_delay: float = _env("ROUTEMQ_RETRY_BASE_DELAY", _number(), 0.5)
    retry_max_delay: float = _env("ROUTEMQ_RETRY_MAX_DELAY", _number(), 30.0)
    dlq_prefix: str = _env("ROUTEMQ_DLQ_PREFIX", _non_empty, "routemq/dlq")
    drain_timeout: float = _env("ROUTEMQ_DRAIN_TIMEOUT", _number(), 20.0)
    app_name: str = _env("ROUTEMQ_APP_NAME", _non_empty, "routemq")
    dlq_keep: bool = _env("ROUTEMQ_DLQ_KEEP", _boolean, True)
    presence_prefix: str = _env("ROUTEMQ_PRESENCE_PREFIX", _non_empty, "routemq/presence")
    retire_grace: float = _env("ROUTEMQ_RETIRE_GRACE", _number(), 60.0)
    probe_timeout: float = _env("ROUTEMQ_PROBE_TIMEOUT", _number(0.1), 5.0)
    # The app's store of failed messages (routemq failed:*); "none" leaves them in the broker.
    failed_store: str = _env("ROUTEMQ_FAILED_STORE", _store_url, DEFAULT_FAILED_STORE)

    def __post_init__(self) -> None:
        problems = _value_problems(vars(self))
        if problems:
            raise ConfigError(problems)

    @classmethod
    def from_env(
        cls,
        env_file: str | os.PathLike[str] | None = ".env",
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Config:
        """Read every variable; the real environment wins over ``.env``.

        ``environ`` replaces ``os.environ`` (tests); ``overrides`` set fields directly.
        """
        source = dict(os.environ if environ is None else environ)
        if env_file is not None and Path(env_file).is_file():
            from dotenv import dotenv_values

            for key, value in dotenv_values(env_file).items():
                if value is not None:
                    source.setdefault(key, value)
        values: dict[str, Any] = {}
        problems: list[str] = []
        for spec in dataclasses.fields(cls):
            name = spec.metadata["env"]
            text = source.get(name)
            file_name = source.get(f"{name}_FILE")
            shown = "'***'" if spec.metadata.get("secret") else repr(text)
            if file_name and text is None:
                try:
                    text = Path(file_name).read_text().rstrip("\r\n")
                except OSError as error:
                    problems.append(f"{name}_FILE={file_name!r} cannot be read: {error.strerror}")
                    continue
                shown = f"(from {name}_FILE)"
            if text is None:
                continue
            try:
                values[spec.name] = spec.metadata["parse"](text)
            except _Invalid as reason:
                problems.append(f"{name}={shown} {reason}")
        values.update(overrides)
        if problems:
            defaults = {f.name: f.default for f in dataclasses.fields(cls)}
            raise ConfigError(problems + _value_problems({**defaults, **values}))
        return cls(**values)

    def __str__(self) -> str:
        return repr(self)

    def redacted(self) -> dict[str, Any]:
        """All settings by env name, secrets masked: safe to log."""
        shown = {}
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if spec.metadata.get("secret") and value is not None:
                value = "***"
            shown[spec.metadata["env"]] = value
        return shown

    @property
    def log_level_number(self) -> int:
        return logging.getLevelName(self.log_level)

    def tls_files(self) -> dict[str, str | None]:
        """The TLS files by variable name (CA, certificate, key), set or not."""
        return {
            "MQTT_TLS_CA_FILE": self.mqtt_tls_ca_file,
            "MQTT_TLS_CERT_FILE": self.mqtt_tls_cert_file,
            "MQTT_TLS_KEY_FILE": self.mqtt_tls_key_file,
        }

    def env_names(self) -> dict[str, str]:
        return {spec.name: spec.metadata["env"] for spec in dataclasses.fields(self)}


def group_name_problem(group: str) -> str | None:
    """Why ``group`` cannot be a shared-subscription group name, or None."""
    # `$share/a/b/x` is group `a` with filter `b/x`: a slash would quietly change the route.
    bad = sorted({c for c in group if c in "/+#"})
    if not bad:
        return None
    return (
        f"MQTT_GROUP_NAME={group!r} must not contain {' or '.join(map(repr, bad))} "
        "(a shared-subscription group is one topic level)"
    )


def _value_problems(values: Mapping[str, Any]) -> list[str]:
    """Rules that hold for a Config however it was made (from the environment or directly)."""
    problems = []
    group_problem = group_name_problem(values["mqtt_group_name"])
    if group_problem:
        problems.append(group_problem)
    # Dead letters are published: a wildcard there would make every one of them fail.
    bad = sorted({c for c in values["dlq_prefix"] if c in "+#"})
    if bad:
        problems.append(
            f"ROUTEMQ_DLQ_PREFIX={values['dlq_prefix']!r} must not contain "
            f"{' or '.join(map(repr, bad))} (it is a topic that dead letters are published to)"
        )
    for name, prefix in (("ROUTEMQ_PRESENCE_PREFIX", values["presence_prefix"]),):
        if any(c in "+#" for c in prefix):
            problems.append(f"{name}={prefix!r} must not contain '+' or '#' (it is a topic)")
    if values["worker_min_count"] > values["worker_max_count"]:
        problems.append(
            f"WORKER_MIN_COUNT={values['worker_min_count']} is greater than "
            f"WORKER_MAX_COUNT={values['worker_max_count']}"
        )
    if values["retry_base_delay"] > values["retry_max_delay"]:
        problems.append(
            f"ROUTEMQ_RETRY_BASE_DELAY={values['retry_base_delay']:g} is greater than "
            f"ROUTEMQ_RETRY_MAX_DELAY={values['retry_max_delay']:g}"
        )
    if bool(values["mqtt_tls_cert_file"]) != bool(values["mqtt_tls_key_file"]):
        problems.append("MQTT_TLS_CERT_FILE and MQTT_TLS_KEY_FILE must be set together")
    return problems
