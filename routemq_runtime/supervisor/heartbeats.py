"""Killing slots whose worker stopped sending heartbeats (a hung process looks alive)."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterable

from routemq_runtime.supervisor.processes import signal_slot
from routemq_runtime.supervisor.rundir import RunDir
from routemq_runtime.supervisor.slot import Slot

logger = logging.getLogger("routemq.supervisor")


def kill_stale(slots: Iterable[Slot], run_dir: RunDir, timeout: float) -> None:
    """SIGKILL every running slot whose heartbeat file is older than ``timeout`` seconds."""
    wall = time.time()
    for slot in slots:
        if slot.pid is None or slot.killed or slot.retiring:
            continue
        age = run_dir.heartbeat_age(slot.slot_id, wall)
        if age > timeout:
            logger.error(
                "slot %s (pid %d) sent no heartbeat for %.0f s; killing it",
                slot.slot_id,
                slot.pid,
                age,
            )
            slot.killed = True
            signal_slot(slot, signal.SIGKILL)
