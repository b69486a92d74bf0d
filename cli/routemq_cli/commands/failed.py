"""``failed:list``, ``failed:show``, ``failed:retry``, ``failed:forget``, ``failed:flush``: the
messages that failed every attempt, kept by the app in its store (Laravel's ``queue:failed``).

Nothing leaves the store unless its action succeeded: a retried entry goes once the broker
confirmed its message, an unknown id stops the command before anything changed.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from routemq_cli.commands.broker import reporting_broker_errors
from routemq_cli.commands.failed_args import (
    TIME_HELP,
    app_store,
    duration,
    ids_of,
    known,
    point_in_time,
    when,
)
from routemq_cli.commands.output import fail, table

IDS = typer.Argument(help="Ids from routemq failed:list.", show_default=False)
ROUTE = typer.Option("--route", "-r", metavar="PATTERN", help="Only this route's failures.")


def failed_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
    route: Annotated[str | None, ROUTE] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="WHEN", help=f"Only newer ones: {TIME_HELP}.")
    ] = None,
) -> None:
    """List the failed messages the app kept: id, topic, route, error, attempts and time.

    Example: routemq failed:list --route 'sensors/{id}' --since 2h
    """
    start = point_in_time(since, "--since") if since else None
    with app_store() as (_config, store):
        records = store.list(route, start) if store is not None else []
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in records], indent=2))
        return
    if not records:
        typer.echo("No failed messages.")
        return
    rows = [
        [
            str(r.id),
            when(r.failed_at),
            r.topic,
            r.route or "-",
            str(r.total_attempts),
            r.error[:60],
        ]
        for r in records
    ]
    typer.echo(table(["ID", "FAILED AT", "TOPIC", "ROUTE", "ATTEMPTS", "ERROR"], rows))
    typer.echo(f"\n{len(records)} failed message(s)")


def failed_show(
    failed_id: Annotated[str, typer.Argument(metavar="ID", help="An id from routemq failed:list.")],
) -> None:
    """Show one failed message: its payload, properties, error, traceback and history."""
    with app_store() as (_config, store):
        (record,) = known(store, ids_of([failed_id]))
    data = record.as_json()
    lines = [
        ("id", str(record.id)),
        ("topic", record.topic),
        ("route", record.route or "-"),
        ("qos", str(record.qos)),
        ("failed at", when(record.failed_at)),
        ("worker", record.worker or "-"),
        ("attempts", f"{record.attempts} (all retries: {record.total_attempts})"),
        ("error", record.error),
        (
            "payload",
            f"{data['payload']} ({data['payload_bytes']} bytes, {data['payload_encoding']})",
        ),
        ("properties", json.dumps(record.properties) if record.properties else "-"),
    ]
    for earlier in record.history:
        lines.append(("earlier", f"{when(earlier['failed_at'])} {earlier['error']}"))
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        typer.echo(f"{typer.style(name.ljust(width), bold=True)}  {value}")
    if record.traceback:
        typer.echo(f"\n{record.traceback.rstrip()}")


def failed_retry(
    ids: Annotated[list[str] | None, IDS] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every stored failure.")] = False,
    route: Annotated[str | None, ROUTE] = None,
) -> None:
    """Publish failed messages again to their topic (with their QoS and properties); each
    leaves the store once the broker confirmed it.

    Example: routemq failed:retry 12 13 · routemq failed:retry --all --route 'jobs/{kind}'
    """
    if bool(ids) == all_:
        fail("give the ids to retry, or --all (not both)")
    if route and not all_:
        fail("--route goes with --all")
    # paho-mqtt only once there is something to send.
    from routemq_runtime.failed.replay import replay

    with app_store() as (config, store):
        if all_:
            records = store.list(route) if store is not None else []
            if not records:
                fail("there are no failed messages to retry (the store is empty)")
        else:
            records = known(store, ids_of(ids or []))
        assert store is not None
        store.retrying(records)
        with reporting_broker_errors(config):
            missed = replay(config, records, store.retried)
    for record in records:
        if record not in missed:
            typer.echo(f"RETRIED {record.id} {record.topic}")
    if missed:
        fail(f"the broker did not confirm {len(missed)} message(s); they stay stored")
    typer.echo(f"\n{len(records)} message(s) published again")


def failed_forget(ids: Annotated[list[str], IDS]) -> None:
    """Delete failed messages from the store without sending them again."""
    with app_store() as (_config, store):
        records = known(store, ids_of(ids))
        assert store is not None
        store.forget(r.id for r in records)
    for record in records:
        typer.echo(f"FORGOT {record.id} {record.topic}")


def failed_flush(
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", metavar="AGE", help="Only those older than AGE (e.g. 7d)."),
    ] = None,
) -> None:
    """Delete every stored failed message (or only the old ones)."""
    before = time.time() - duration(older_than, "--older-than") if older_than else None
    with app_store() as (_config, store):
        removed = store.flush(before) if store is not None else 0
    typer.echo(f"Flushed {removed} failed message(s).")
