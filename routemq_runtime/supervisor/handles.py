"""``WorkerManager.workers``: live handles on the worker processes, as the design page uses them.

A handle names one slot's current process: ``.pid``, ``.is_alive()``, the integer
``.worker_id``, its route and client id. Handles compare equal by slot, so code written for the
page (``workers.remove(dead)`` after the supervisor already replaced it) keeps working. A
supervisor running in another process (``start_workers()``) shares its table through a small
JSON file that it rewrites whenever the table changes.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from routemq_runtime.supervisor.snapshot import Snapshot


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: kill(0) is all we know
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


@dataclass(frozen=True, eq=False)
class WorkerHandle:
    """One worker process: what ``multiprocessing.Process`` offered on the page, and more."""

    worker_id: int
    pid: int | None
    route: str
    client_id: str
    slot_id: str
    route_key: str
    shared: bool = True
    state: str = "running"
    restarts: int = 0
    patterns: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return f"Worker-{self.worker_id}"

    def is_alive(self) -> bool:
        return pid_alive(self.pid)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkerHandle) and other.slot_id == self.slot_id

    def __hash__(self) -> int:
        return hash(self.slot_id)


class WorkerList(list[WorkerHandle]):
    """A copy of the table; ``remove`` of a handle the supervisor already dropped is no error."""

    def remove(self, value: WorkerHandle) -> None:
        if value in self:
            super().remove(value)


def handles_of(snapshot: Snapshot) -> WorkerList:
    """The worker handles of a snapshot, by worker id (sessions being retired left out)."""
    handles = [
        WorkerHandle(
            worker_id=view.worker_id,
            pid=view.pid,
            route=", ".join(view.patterns),
            client_id=view.client_id,
            slot_id=view.slot_id,
            route_key=view.route_key,
            shared=view.shared,
            state=view.state,
            restarts=view.restarts,
            patterns=view.patterns,
        )
        for view in snapshot.slots
        if not view.adopted
    ]
    return WorkerList(sorted(handles, key=lambda h: h.worker_id))


def _encode(handles: Iterable[WorkerHandle]) -> str:
    rows = [
        [
            h.worker_id,
            h.pid,
            h.client_id,
            h.slot_id,
            h.route_key,
            h.shared,
            h.state,
            h.restarts,
            *h.patterns,
        ]
        for h in handles
    ]
    return json.dumps(rows)


class HandleFile:
    """The table of a supervisor in another process, written by it and read by its caller."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last = ""

    def write(self, snapshot: Snapshot) -> None:
        text = _encode(handles_of(snapshot))
        if text == self._last:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.path)  # readers never see half a table
        self._last = text

    def read(self) -> WorkerList:
        try:
            rows = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return WorkerList()
        return WorkerList(
            WorkerHandle(
                worker_id=row[0],
                pid=row[1],
                route=", ".join(row[8:]),
                client_id=row[2],
                slot_id=row[3],
                route_key=row[4],
                shared=row[5],
                state=row[6],
                restarts=row[7],
                patterns=tuple(row[8:]),
            )
            for row in rows
        )

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()
