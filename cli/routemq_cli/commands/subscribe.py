"""``subscribe``: watch topics on the app's broker, one line per message (the other half of
``publish``; what ``mosquitto_sub`` does, with the app's own settings)."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from datetime import datetime
from typing import Annotated, Any

import typer

from routemq_cli.commands.broker import app_config, reporting_broker_errors
from routemq_cli.commands.output import fail

SHARE_PREFIX = "$share/"
#: How much of a binary payload a line shows.
PREVIEW_BYTES = 16


def filter_error(topic_filter: str) -> str | None:
    """Why ``topic_filter`` is not an MQTT topic filter, or None when it is."""
    if topic_filter.startswith(SHARE_PREFIX):
        group, _, rest = topic_filter[len(SHARE_PREFIX) :].partition("/")
        if not group or any(c in group for c in "+#"):
            return f"{topic_filter!r}: a shared subscription is $share/GROUP/FILTER"
        if not rest:
            return f"{topic_filter!r}: $share/{group}/ needs a filter after the group"
        topic_filter = rest
    if not topic_filter:
        return "an empty topic filter matches nothing"
    if "\x00" in topic_filter:
        return f"{topic_filter!r} contains a NUL character"
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return f"{topic_filter!r}: '#' must be a whole level and the last one"
        if "+" in level and level != "+":
            return f"{topic_filter!r}: '+' must be a whole level"
    return None


def describe_payload(payload: bytes) -> str:
    """JSON on one line, text as it is, anything else as its size and first bytes."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        head = payload[:PREVIEW_BYTES].hex(" ")
        more = " …" if len(payload) > PREVIEW_BYTES else ""
        return f"<{len(payload)} bytes: {head}{more}>"
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        return text if text.isprintable() else repr(text)


def as_record(message: Any, received: float) -> dict[str, Any]:
    """A message as one JSON object (``--json``)."""
    record: dict[str, Any] = {
        "time": datetime.fromtimestamp(received).isoformat(timespec="milliseconds"),
        "topic": message.topic,
        "qos": message.qos,
        "retain": bool(message.retain),
    }
    try:
        text = message.payload.decode("utf-8")
    except UnicodeDecodeError:
        record["payload_hex"] = message.payload.hex()
        return record
    try:
        record["payload"] = json.loads(text)
    except ValueError:
        record["payload"] = text
    return record


def subscribe(
    filters: Annotated[
        list[str],
        typer.Argument(
            metavar="FILTER...", help="Topic filters: 'alerts/#', 'sensors/+/data', '$share/g/x'."
        ),
    ],
    count: Annotated[
        int | None,
        typer.Option("--count", "-c", min=1, metavar="N", help="Stop after N messages."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per message (payload decoded).")
    ] = False,
    qos: Annotated[int, typer.Option("--qos", "-q", min=0, max=2, help="QoS to ask for.")] = 0,
) -> None:
    """Print each message published to FILTER(s) on the app's broker (MQTT_BROKER from .env),
    one line per message, until Ctrl-C or --count messages.

    Example: routemq subscribe 'alerts/#' 'sensors/+/data' --count 10
    """
    for topic_filter in filters:
        problem = filter_error(topic_filter)
        if problem:
            fail(f"not a topic filter: {problem}", hint="e.g. routemq subscribe 'alerts/#'")
    config = app_config()
    received = [0]
    # Ctrl-C is how a watch ends: no traceback, the connection closed on the way out.
    with reporting_broker_errors(config), contextlib.suppress(KeyboardInterrupt):
        _watch(config, filters, qos, count, as_json, received)
    seen = received[0]
    typer.secho(f"{seen} message{'s' if seen != 1 else ''} received", err=True, dim=True)


def _watch(
    config: Any,
    filters: list[str],
    qos: int,
    count: int | None,
    as_json: bool,
    received: list[int],
) -> None:
    """Subscribe and print messages until ``count`` arrived (or forever), counting them."""
    # paho-mqtt only once the arguments are known good.
    from routemq_runtime.transport.paho_client import new_client, with_connection

    def on_message(_client: Any, _userdata: Any, message: Any) -> None:
        now = time.time()
        if as_json:
            line = json.dumps(as_record(message, now), ensure_ascii=False)
        else:
            stamp = datetime.fromtimestamp(now).strftime("%H:%M:%S.%f")[:-3]
            line = f"{stamp} {message.topic} {describe_payload(message.payload)}"
        typer.echo(line)
        sys.stdout.flush()
        received[0] += 1

    def listen(client: Any, _left: float) -> None:
        granted = _subscribed(client, filters, qos)
        refused = [f for f, code in zip(filters, granted, strict=True) if code >= 0x80]
        if refused:
            fail(f"the broker refused the subscription to {', '.join(refused)}")
        where = f"{config.mqtt_broker}:{config.mqtt_port}"
        typer.secho(f"subscribed to {', '.join(filters)} on {where}", err=True, dim=True)
        while count is None or received[0] < count:
            client.loop(0.1)

    client = new_client(config, clean_session=True)
    client.on_message = on_message
    with_connection(config, client, listen, timeout=10.0)


def _subscribed(client: Any, filters: list[str], qos: int) -> list[int]:
    """SUBSCRIBE and wait for the SUBACK: the granted QoS (or failure code) per filter."""
    answer: list[list[int]] = []

    def on_subscribe(_client: Any, _userdata: Any, _mid: Any, codes: Any, _props: Any) -> None:
        answer.append([int(getattr(code, "value", code)) for code in codes])

    client.on_subscribe = on_subscribe
    client.subscribe([(topic_filter, qos) for topic_filter in filters])
    deadline = time.monotonic() + 10.0
    while not answer and time.monotonic() < deadline:
        client.loop(0.05)
    if not answer:
        raise TimeoutError("no SUBACK within 10s")
    return answer[0]
