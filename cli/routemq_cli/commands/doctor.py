"""``doctor``: is this app ready for the field? One line per check, ✓ or ✗ with the fix."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from routemq_cli.commands.app_dir import find_app_dir
from routemq_cli.generators.errors import GeneratorError

#: A check returns ``(ok, what it found, the fix when not ok)``.
Result = tuple[bool, str, str]


def doctor() -> None:
    """Check settings, broker, protocol, shared subscriptions, sessions and versions."""
    try:
        app_dir = find_app_dir()
    except GeneratorError as error:
        typer.echo(f"✗ app directory: {error}")
        raise typer.Exit(1) from None
    # Here, not at the top: other commands must not pay for the runtime and paho-mqtt.
    from routemq_runtime.config import Config, ConfigError

    failed = 0
    try:
        config = Config.from_env(env_file=app_dir / ".env")
    except ConfigError as error:
        _say((False, "settings: " + "; ".join(error.problems), "fix them in .env"))
        raise typer.Exit(1) from None
    where = f"{config.mqtt_broker}:{config.mqtt_port}, MQTT {config.mqtt_protocol}"
    _say((True, f"settings: .env and environment read ({where}, workers' client: "
                f"{config.mqtt_transport})", ""))  # fmt: skip
    checks: list[Callable[[Any], Result]] = [
        _broker,
        _shared_subscriptions,
        _session_persistence,
        _stranded_sessions,
    ]
    for check in checks:
        result = _run(check, config)
        failed += not result[0]
        _say(result)
        if not result[0] and check is _broker:
            break  # nothing else can be checked without a broker
    version = _versions(app_dir)
    failed += not version[0]
    _say(version)
    raise typer.Exit(1 if failed else 0)


def _say(result: Result) -> None:
    ok, found, fix = result
    typer.echo(f"{'✓' if ok else '✗'} {found}" + ("" if ok or not fix else f" — {fix}"))


def _run(check: Callable[[Any], Result], config: Any) -> Result:
    try:
        return check(config)
    except Exception as error:  # a check that cannot run is a failed check, not a crash
        return False, f"{check.__name__.strip('_').replace('_', ' ')}: {error}", "see above"


def _broker(config: Any) -> Result:
    # Each check imports what it uses: the CLI's other commands must not load paho-mqtt.
    from routemq_runtime.transport.paho_client import (
        BrokerRefused,
        new_client,
        refusal_hint,
        with_connection,
    )

    where = f"{config.mqtt_broker}:{config.mqtt_port}"
    client = new_client(config, clean_session=True)
    try:
        with_connection(config, client, lambda _c, _left: None, 5.0)
    except BrokerRefused as error:
        hint = refusal_hint(str(error), str(config.mqtt_protocol) == "5").strip(" ()")
        fix = hint or "check MQTT_USERNAME/MQTT_PASSWORD and the broker's ACL"
        return False, f"broker {where} refused MQTT {config.mqtt_protocol}: {error}", fix
    except (OSError, TimeoutError) as error:
        return False, f"broker {where} unreachable: {error}", "start it or fix MQTT_BROKER/PORT"
    who = f" as {config.mqtt_username!r}" if config.mqtt_username else ""
    return True, f"broker {where} accepts MQTT {config.mqtt_protocol}{who}", ""


def _shared_subscriptions(config: Any) -> Result:
    # Each check imports what it uses: the CLI's other commands must not load paho-mqtt.
    from routemq_runtime.transport.probe import (
        SharedSubscriptionsMissing,
        probe_shared_subscriptions,
        probe_topic,
    )

    topic = probe_topic(config, f"doctor-{int(time.time())}")
    group = config.mqtt_group_name
    try:
        seconds = probe_shared_subscriptions(config, group, topic, config.probe_timeout)
    except SharedSubscriptionsMissing as error:
        return False, f"shared subscriptions: {error}", "use a broker with $share (MQTT 5)"
    return True, f"shared subscriptions: $share/{group}/... delivers ({seconds * 1000:.0f} ms)", ""


def _session_persistence(config: Any) -> Result:
    # Each check imports what it uses: the CLI's other commands must not load paho-mqtt.
    from routemq_runtime.transport.durable import hold_subscription
    from routemq_runtime.transport.paho_client import end_session

    client_id = f"{config.app_name}-doctor-session"
    hold_subscription(config, client_id, f"{config.presence_prefix}/doctor/none")
    kept = hold_subscription(config, client_id, f"{config.presence_prefix}/doctor/none")
    end_session(config, client_id, 5.0)
    if not kept:
        fix = "turn on persistence; on 3.1.1 check persistent_client_expiration"
        return False, "session persistence: the session was gone after a reconnect", fix
    return True, "session persistence: a session survives a reconnect", ""


def _stranded_sessions(config: Any) -> Result:
    # Each check imports what it uses: the CLI's other commands must not load paho-mqtt.
    from routemq_runtime.presence.record import parse_topic
    from routemq_runtime.presence.roster import Roster
    from routemq_runtime.transport.paho_client import new_client, with_connection

    roster = Roster("", config.app_name, config.mqtt_group_name, config.retire_grace)

    def read(client: Any, left: float) -> None:
        def on_message(_c: Any, _u: Any, message: Any) -> None:
            parsed = parse_topic(config.presence_prefix, message.topic)
            if parsed:
                roster.observe(parsed[0], parsed[1], message.payload, 0.0)

        client.on_message = on_message
        client.subscribe(f"{config.presence_prefix.rstrip('/')}/+/+", qos=1)
        deadline = time.monotonic() + min(left, 1.0)
        while time.monotonic() < deadline:
            client.loop(0.05)

    with_connection(config, new_client(config, clean_session=True), read, 5.0)
    waiting = roster.stranded(0.0)
    live = len(roster.online()) - 1
    if waiting:
        grace = f"ROUTEMQ_RETIRE_GRACE={config.retire_grace:g}s"
        fix = f"start the app: a live instance retires them after {grace}"
        return (
            False,
            f"sessions: {waiting} of offline instances wait in group {config.mqtt_group_name!r}",
            fix,
        )
    return True, f"sessions: none stranded ({live} live instance(s) of the app)", ""


def _versions(app_dir: Path) -> Result:
    # Each check imports what it uses: the CLI's other commands must not load paho-mqtt.
    from routemq_runtime._version import __version__

    answers = app_dir / ".copier-answers.yml"
    if not answers.is_file():
        return True, f"runtime {__version__} (no template answers file to compare)", ""
    commit = next(
        (
            line.split(":", 1)[1].strip()
            for line in answers.read_text().splitlines()
            if line.startswith("_commit:")
        ),
        "",
    )
    if commit.lstrip("v") == __version__:
        return True, f"runtime {__version__} matches the template ({commit})", ""
    return False, f"runtime {__version__}, template {commit or 'unknown'}", "run `routemq upgrade`"
