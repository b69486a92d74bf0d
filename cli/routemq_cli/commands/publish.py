"""``publish``: send one message to the app's broker, to try a route by hand (like artisan tinker
for MQTT). Broker settings come from the app's ``.env`` and the environment, as the app's own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from routemq_cli.commands.broker import app_config, reporting_broker_errors
from routemq_cli.commands.output import fail


def _payload(payload: str | None, file: Path | None) -> bytes:
    if payload is not None and file is not None:
        fail("give the payload as an argument or with --file, not both")
    if file is None:
        return (payload or "").encode()
    try:
        return file.read_bytes()
    except OSError as error:
        fail(f"cannot read --file {str(file)!r}: {error.strerror or error}")


def publish(
    topic: Annotated[str, typer.Argument(help="Topic to publish to (no wildcards).")],
    payload: Annotated[
        str | None, typer.Argument(help="Message body, e.g. '{\"temperature\": 21.5}'.")
    ] = None,
    qos: Annotated[int, typer.Option("--qos", "-q", min=0, max=2, help="QoS level.")] = 1,
    retain: Annotated[bool, typer.Option("--retain", help="Ask the broker to retain it.")] = False,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the body from this file.")
    ] = None,
) -> None:
    """Publish one message to the broker in MQTT_BROKER/MQTT_PORT (from .env) and wait for it."""
    if not topic or any(c in topic for c in "+#\x00"):
        fail(f"topic {topic!r} is not a topic to publish to: it is empty or has a wildcard")
    body = _payload(payload, file)

    config = app_config()
    # paho-mqtt only once the message is ready to go.
    from routemq_runtime.transport.paho_client import publish_once

    with reporting_broker_errors(config):
        publish_once(config, topic, body, qos=qos, retain=retain)
    typer.echo(f"PUBLISHED {topic} ({len(body)} bytes, qos {qos}{', retained' if retain else ''})")
