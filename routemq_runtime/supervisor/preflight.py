"""Checks that must pass before any slot is forked.

A setting that every slot would trip over the same way (an unreadable CA file, a key that does
not match its certificate) is reported once, by its variable, instead of as a crash loop of
identical tracebacks that ends with the restart budget.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from routemq_runtime.config import Config, group_name_problem


def _unreadable(variable: str, path: str) -> str | None:
    try:
        with Path(path).open("rb"):
            return None
    except OSError as error:
        return f"{variable}={path!r} cannot be read: {error.strerror or error}"


def name_problems(config: Config, group: str | None = None) -> list[str]:
    """A group name given in code rather than through the (already checked) config."""
    if group is None or group == config.mqtt_group_name:
        return []
    problem = group_name_problem(group)
    return [problem] if problem else []


def problems(config: Config, group: str | None = None) -> list[str]:
    """Every preflight problem of ``config`` (``group`` overrides its group name)."""
    return name_problems(config, group) + tls_problems(config)


def tls_problems(config: Config) -> list[str]:
    """What is wrong with the TLS files, each named by its variable (empty when fine)."""
    if not config.mqtt_tls:
        return []
    problems = []
    for variable, path in config.tls_files().items():
        if path:
            problem = _unreadable(variable, path)
            if problem:
                problems.append(problem)
    if problems:
        return problems
    # The same loading paho does at connect time, so a file that is not PEM, or a key that
    # does not belong to its certificate, is named here.
    context = ssl.create_default_context()
    if config.mqtt_tls_ca_file:
        try:
            context.load_verify_locations(config.mqtt_tls_ca_file)
        except ssl.SSLError as error:
            problems.append(
                f"MQTT_TLS_CA_FILE={config.mqtt_tls_ca_file!r} holds no usable CA "
                f"certificate: {error.reason or error}"
            )
    if config.mqtt_tls_cert_file and config.mqtt_tls_key_file:
        try:
            # An empty password: an encrypted key fails here instead of prompting on a terminal
            # that a container does not have.
            context.load_cert_chain(
                config.mqtt_tls_cert_file, config.mqtt_tls_key_file, password=lambda: b""
            )
        except ssl.SSLError as error:
            problems.append(
                f"MQTT_TLS_CERT_FILE={config.mqtt_tls_cert_file!r} and "
                f"MQTT_TLS_KEY_FILE={config.mqtt_tls_key_file!r} do not load as a certificate "
                f"and its key: {error.reason or error}"
            )
    return problems
