"""The supervisor loop: it owns the slot table and keeps it full.

Signal handlers only queue the signal (a wake-up fd breaks the loop's sleep); the loop reaps
dead children, restarts them in the same slot after a backoff, kills slots whose heartbeat went
stale, applies scaling, and on SIGTERM/SIGINT drains every slot and kills the stragglers after
the drain budget. It knows processes, not messages: what runs in a child and how a slot is
described come from :class:`~routemq_runtime.supervisor.manager.WorkerManager` as callables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from routemq_runtime.config import Config
from routemq_runtime.lifecycle import EXIT_BOOT_ERROR, EXIT_FAILED
from routemq_runtime.supervisor.autoscaler import AutoScaler
from routemq_runtime.supervisor.health import HealthServer
from routemq_runtime.supervisor.heartbeats import kill_stale
from routemq_runtime.supervisor.lifeline import die_with_parent
from routemq_runtime.supervisor.plan import RoutePlan, slot_id
from routemq_runtime.supervisor.processes import (
    count_restart,
    describe_exit,
    exit_child,
    exited_slots,
    flush_all,
    signal_slot,
)
from routemq_runtime.supervisor.restart import RestartPolicy
from routemq_runtime.supervisor.rundir import RunDir, mark_process_dead
from routemq_runtime.supervisor.scaling import ScalingPolicy
from routemq_runtime.supervisor.signals import SignalQueue
from routemq_runtime.supervisor.slot import Slot
from routemq_runtime.supervisor.snapshot import Snapshot, take_snapshot

if TYPE_CHECKING:
    from routemq_runtime.supervisor.fleet import Fleet

logger = logging.getLogger("routemq.supervisor")

_TICK = 1.0

#: Builds the table entry for a route's slot ``index`` (the facade knows ids and client ids).
NewSlot = Callable[[RoutePlan, int, RunDir], Slot]
#: Runs in the forked child: serves the slot, returns the exit code.
ServeSlot = Callable[[Slot], int | None]


@dataclass
class ArbiterSettings:
    """The arbiter's knobs, fixed for one run."""

    config: Config
    group_name: str
    restart_policy: RestartPolicy
    scaling_policy: ScalingPolicy
    auto_scale: bool
    heartbeat_timeout: float
    health_host: str
    retire_signal: int
    metrics_dir: str
    parent_pid: int | None = None
    slot_key: Callable[[str], str] = field(default=lambda key: key)
    fleet: Fleet | None = None
    #: Called with every snapshot the loop publishes (``WorkerManager.workers`` reads them).
    on_snapshot: Callable[[Snapshot], None] | None = None


class Arbiter:
    """One run of the supervisor loop over a fixed set of route plans."""

    def __init__(
        self, settings: ArbiterSettings, run_dir: RunDir, new_slot: NewSlot, serve: ServeSlot
    ) -> None:
        self.settings = settings
        self.config = settings.config
        self.group_name = settings.group_name
        self.heartbeat_timeout = settings.heartbeat_timeout
        self.run_dir = run_dir
        self._new_slot = new_slot
        self._serve = serve
        self.plans: dict[str, RoutePlan] = {}
        self.targets: dict[str, int] = {}
        self.slots: dict[str, Slot] = {}
        self.restarts = 0
        self.signals = SignalQueue()
        self._stopping = False
        self._stop_deadline = 0.0
        self._murdered = False
        self._exit_code = 0
        self._snapshot = Snapshot(0.0, False, ())
        self._health: HealthServer | None = None
        self._autoscaler: AutoScaler | None = None
        if settings.auto_scale:
            self._autoscaler = AutoScaler(
                settings.scaling_policy, settings.metrics_dir, self.config.worker_concurrency
            )
        self._parent_pid = settings.parent_pid

    # ------------------------------------------------------------------ what others read

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def heartbeat_age(self, slot_id: str, now: float) -> float:
        return self.run_dir.heartbeat_age(slot_id, now)

    def is_ready(self, slot_id: str) -> bool:
        return self.run_dir.is_ready(slot_id)

    def message_rate(self, route_key: str) -> float:
        return self._autoscaler.rate(route_key) if self._autoscaler is not None else 0.0

    def scale_route(self, route_key: str, count: int) -> int:
        """Set a shared route's slot count (within its bounds); applied by the loop."""
        self.targets[route_key] = self.plans[route_key].clamp(count)
        return self.targets[route_key]

    def request_stop(self) -> None:
        self.signals.request(signal.SIGTERM)

    # ------------------------------------------------------------------ the run

    def run(self, plans: Iterable[RoutePlan]) -> int:
        """Start every slot and supervise them until stopped; return the exit code."""
        try:
            self.signals.open()
            self._start_health()
            self.signals.install()
            for plan in plans:
                self.plans[plan.key] = plan
                self.targets[plan.key] = plan.count
            if self._fleet_allows(time.monotonic()):
                self._reconcile(time.monotonic())
            logger.info(
                "supervisor %d starting %d slot(s) for %d route group(s) in group %r%s",
                os.getpid(),
                len(self.slots),
                len(self.plans),
                self.group_name,
                " (auto-scaling)" if self.settings.auto_scale else "",
            )
            self._loop()
        finally:
            self._teardown()
        return self._exit_code

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            self._handle_signals(now)
            self._reap(now)
            if self._stopping:
                if not any(s.pid for s in self.slots.values()):
                    break
                if now >= self._stop_deadline and not self._murdered:
                    self._murder("did not stop within the drain timeout")
            else:
                self._check_parent()
                kill_stale(self.slots.values(), self.run_dir, self.heartbeat_timeout)
                if self._autoscaler is not None:
                    self._autoscaler.adjust(now, self.plans, self.slots, self.targets)
                if self._fleet_allows(now):
                    self._reconcile(now)
                self._kill_overdue_retirees(now)
            self._publish_snapshot(now)
            self.signals.sleep(self._timeout(now))

    def _fleet_allows(self, now: float) -> bool:
        """Whether slots may start (the broker checked); adds slots that retire left sessions."""
        if (fleet := self.settings.fleet) is None:
            return True
        code, adopted = fleet.tick(now, self.slots)
        self.slots.update((slot.slot_id, slot) for slot in adopted)
        if code is not None:
            self._begin_stop(now, code)
        return code is None and fleet.started

    def _timeout(self, now: float) -> float:
        deadlines = [now + _TICK]
        if self._stopping:
            deadlines.append(self._stop_deadline)
        for slot in self.slots.values():
            if slot.pid is None and not slot.retiring:
                deadlines.append(slot.start_at)
            if slot.kill_at is not None:
                deadlines.append(slot.kill_at)
        if self._autoscaler is not None and not self._stopping:
            deadlines.append(self._autoscaler.next_sample)
        return max(0.0, min(deadlines) - now)

    # ------------------------------------------------------------------ signals

    def _handle_signals(self, now: float) -> None:
        while (sig := self.signals.pop()) is not None:
            if sig in (signal.SIGTERM, signal.SIGINT):
                if not self._stopping:
                    logger.info(
                        "%s: draining %d slot(s) (budget %.1f s)",
                        signal.Signals(sig).name,
                        sum(1 for s in self.slots.values() if s.pid),
                        self.config.drain_timeout,
                    )
                    self._begin_stop(now, self._exit_code)
                elif sig == signal.SIGINT and not self._murdered:
                    self._murder("a second SIGINT asked for an immediate stop")
            elif sig == signal.SIGTTIN:
                self._scale_all(+1, "SIGTTIN")
            elif sig == signal.SIGTTOU:
                self._scale_all(-1, "SIGTTOU")

    def _scale_all(self, step: int, why: str) -> None:
        if self._stopping:
            return
        for key, plan in self.plans.items():
            if not plan.shared:
                continue
            old = self.targets[key]
            new = self.scale_route(key, old + step)
            if new != old:
                logger.info("%s: route %s %d -> %d slot(s)", why, key, old, new)
            else:
                logger.info("%s: route %s stays at %d slot(s) (bounds)", why, key, old)

    def _begin_stop(self, now: float, code: int) -> None:
        self._stopping = True
        self._exit_code = code
        self._stop_deadline = now + self.config.drain_timeout
        for slot in list(self.slots.values()):
            if slot.pid is None:
                del self.slots[slot.slot_id]
                continue
            signal_slot(slot, signal.SIGTERM)

    def _murder(self, why: str) -> None:
        self._murdered = True
        victims = [s for s in self.slots.values() if s.pid]
        if victims:
            logger.warning(
                "killing %d slot(s) that %s: %s",
                len(victims),
                why,
                ", ".join(s.slot_id for s in victims),
            )
        for slot in victims:
            signal_slot(slot, signal.SIGKILL)

    # ------------------------------------------------------------------ children

    def _reap(self, now: float) -> None:
        for slot, pid, code in exited_slots(self.slots.values()):
            mark_process_dead(pid)
            slot.pid, slot.exit_code, slot.killed = None, code, False
            self.run_dir.ready_path(slot.slot_id).unlink(missing_ok=True)
            how = describe_exit(code)
            if self._stopping or slot.retiring:
                logger.info("slot %s (pid %d) stopped: %s", slot.slot_id, pid, how)
                del self.slots[slot.slot_id]
                self.run_dir.forget(slot.slot_id)
            elif code == EXIT_BOOT_ERROR:
                logger.critical(
                    "slot %s (pid %d) could not boot (exit code %d); stopping",
                    slot.slot_id,
                    pid,
                    code,
                )
                self._begin_stop(now, EXIT_BOOT_ERROR)
            else:
                self._schedule_restart(slot, pid, how, now)

    def _schedule_restart(self, slot: Slot, pid: int, how: str, now: float) -> None:
        lived = now - slot.started
        delay = slot.deaths.record(now, lived)
        if slot.deaths.exhausted:
            logger.critical(
                "slot %s died %d times within %.0f s (last: %s); giving up",
                slot.slot_id,
                len(slot.deaths.times),
                self.settings.restart_policy.window,
                how,
            )
            self._begin_stop(now, EXIT_FAILED)
            return
        slot.start_at = now + delay
        self.restarts += 1
        count_restart(slot.slot_id)
        logger.warning(
            "slot %s (pid %d) %s after %.1f s; restarting in %.2f s",
            slot.slot_id,
            pid,
            how,
            lived,
            delay,
        )

    def _reconcile(self, now: float) -> None:
        """Match the table to the targets: add missing slots, retire extra ones, start due ones."""
        for key, plan in self.plans.items():
            target = self.targets[key]
            for index in range(target):
                if slot_id(self.settings.slot_key(key), index) not in self.slots:
                    slot = self._new_slot(plan, index, self.run_dir)
                    slot.start_at = now
                    self.slots[slot.slot_id] = slot
            extra = [
                s
                for s in self.slots.values()
                if s.route_key == key and s.index >= target and not s.retiring
            ]
            for slot in sorted(extra, key=lambda s: -s.index):
                self._retire(slot, now)
        for slot in list(self.slots.values()):
            if slot.pid is None and (slot.adopted or not slot.retiring) and slot.start_at <= now:
                self._spawn(slot, now)

    def _retire(self, slot: Slot, now: float) -> None:
        if slot.pid is None:
            del self.slots[slot.slot_id]
            self.run_dir.forget(slot.slot_id)
            return
        slot.retiring = True
        slot.kill_at = now + self.config.drain_timeout
        logger.info("draining slot %s (pid %d)", slot.slot_id, slot.pid)
        signal_slot(slot, self.settings.retire_signal)

    def _kill_overdue_retirees(self, now: float) -> None:
        for slot in self.slots.values():
            if slot.retiring and slot.pid and slot.kill_at is not None and now >= slot.kill_at:
                logger.warning("slot %s did not drain in time; killing it", slot.slot_id)
                slot.kill_at = None
                signal_slot(slot, signal.SIGKILL)

    def _check_parent(self) -> None:
        # A background supervisor whose program died must not outlive it.
        if self._parent_pid is not None and os.getppid() != self._parent_pid:
            logger.warning("parent process %d is gone; stopping", self._parent_pid)
            self._parent_pid = None
            self.signals.request(signal.SIGTERM)

    def _spawn(self, slot: Slot, now: float) -> None:
        self.run_dir.reset(slot.slot_id)
        flush_all()
        parent, pid = os.getpid(), os.fork()
        if pid == 0:
            self._child(slot, parent)
        slot.pid = pid
        slot.started = now
        slot.killed = False
        logger.debug("slot %s started as pid %d", slot.slot_id, pid)

    def _child(self, slot: Slot, parent: int) -> NoReturn:
        def serve() -> int | None:
            self.signals.reset_in_child()
            # After the reset: the supervisor's handler would only queue the signal here.
            die_with_parent(parent)
            if self._health is not None:
                self._health.close_in_child()
            return self._serve(slot)

        exit_child(serve, f"slot {slot.slot_id}")

    # ------------------------------------------------------------------ health, teardown

    def _start_health(self) -> None:
        port = self.config.health_port
        if port is None:
            return
        self._health = HealthServer(self, port=port, host=self.settings.health_host)
        self._health.start()

    def _publish_snapshot(self, now: float) -> None:
        checked = self.settings.fleet is None or self.settings.fleet.ready
        self._snapshot = take_snapshot(self.slots.values(), now, self._stopping, checked)
        if self.settings.on_snapshot is not None:
            self.settings.on_snapshot(self._snapshot)

    def _teardown(self) -> None:
        self.signals.restore()
        # Children that somehow survive (an exception in the loop) must not be left running.
        for slot in self.slots.values():
            if slot.pid:
                signal_slot(slot, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(slot.pid, 0)
                mark_process_dead(slot.pid)
        self.slots.clear()
        if self._health is not None:
            self._health.stop()
            self._health = None
        self.signals.close()
        self.run_dir.remove()
        self._publish_snapshot(time.monotonic())
