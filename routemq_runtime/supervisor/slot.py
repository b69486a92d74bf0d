"""One entry of the supervisor's table: a slot's identity and the worker process filling it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from routemq_runtime.supervisor.restart import DeathRecord

if TYPE_CHECKING:
    from routemq_runtime.worker.spec import SlotSpec


@dataclass
class Slot:
    """A slot keeps its id, index and client id for life; its process comes and goes.

    ``pid`` is None while the slot waits for its (re)start at ``start_at`` (monotonic clock).
    A *retiring* slot was asked to drain because its route shrank; it is removed once its
    process has exited, and never restarted.
    """

    route_key: str
    index: int
    slot_id: str
    spec: SlotSpec
    deaths: DeathRecord
    pid: int | None = None
    started: float = 0.0
    start_at: float = 0.0
    retiring: bool = False
    kill_at: float | None = None
    killed: bool = False
    #: Retires a session a gone slot left behind (started retiring, never restarted).
    adopted: bool = False
    exit_code: int | None = None

    @property
    def state(self) -> str:
        if self.retiring:
            return "retiring"
        if self.pid is None:
            return "restarting" if self.deaths.total else "starting"
        return "running"
