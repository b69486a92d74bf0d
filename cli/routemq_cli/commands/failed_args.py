"""What the ``failed:*`` commands share: the app's store, and reading times and ids."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from routemq_cli.commands.app_dir import AppDirNotFound, find_app_dir
from routemq_cli.commands.broker import app_config
from routemq_cli.commands.output import fail

if TYPE_CHECKING:
    from routemq_runtime.config import Config
    from routemq_runtime.failed import FailedMessage, FailedStore

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
TIME_HELP = "a duration back from now (90s, 30m, 2h, 7d, 1w) or a date/time (2025-01-31T12:00)"


def duration(text: str, option: str) -> float:
    """Seconds in ``30m``, ``2h``, ``7d``..."""
    found = _DURATION.match(text.lower())
    if found is None:
        fail(f"{option} {text!r} is not a duration (use e.g. 90s, 30m, 2h, 7d, 1w)")
    return float(found.group(1)) * _UNITS[found.group(2)]


def point_in_time(text: str, option: str) -> float:
    """A Unix time: ``text`` ago when it is a duration, else an ISO date or date-time (local)."""
    if _DURATION.match(text.lower()):
        return time.time() - duration(text, option)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        fail(f"{option} {text!r} is neither a duration nor a date/time ({TIME_HELP})")


def ids_of(values: list[str]) -> list[int]:
    found = []
    for value in values:
        if not value.isdigit():
            fail(f"{value!r} is not a failed-message id (ids are numbers: see routemq failed:list)")
        found.append(int(value))
    return found


@contextmanager
def app_store(*, create: bool = False) -> Iterator[tuple[Config, FailedStore | None]]:
    """The app's settings and its store; None when it has none yet (unless ``create``)."""
    # The runtime only once the arguments are known good: `--help` stays quick.
    from routemq_runtime.failed import StoreError, open_store, store_path

    config = app_config()
    try:
        base = find_app_dir()
    except AppDirNotFound as error:
        fail(error)
    path = store_path(config, base)
    if path is None:
        fail("this app keeps no failed messages (ROUTEMQ_FAILED_STORE=none)")
    if not path.exists() and not create:
        yield config, None
        return
    try:
        store = open_store(path)
    except StoreError as error:
        fail(str(error))
    try:
        yield config, store
    except StoreError as error:
        fail(str(error))
    finally:
        store.close()


def known(store: FailedStore | None, ids: list[int]) -> list[FailedMessage]:
    """The entries with these ids; one error naming every unknown id (nothing is done then)."""
    if store is None:
        fail("there are no failed messages (the store is empty)")
    records = {i: store.get(i) for i in dict.fromkeys(ids)}
    unknown = [str(i) for i, record in records.items() if record is None]
    if unknown:
        fail(
            f"no failed message with id {', '.join(unknown)}; nothing was changed",
            hint="routemq failed:list shows the stored ones",
        )
    return [record for record in records.values() if record is not None]


def when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
