"""WorkerManager: forks one process per slot and keeps the table full.

One loop, in the style of a pre-fork arbiter: signal handlers only queue the signal (and the
wake-up fd breaks the loop's sleep); the loop reaps dead children, restarts them in the same
slot after a backoff, kills slots whose heartbeat went stale, applies scaling, and on
SIGTERM/SIGINT drains every slot and kills the stragglers after the drain budget.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from routemq_runtime.config import Config, ConfigError
from routemq_runtime.routing import Router, RouterRegistry
from routemq_runtime.supervisor.lifeline import die_with_parent
from routemq_runtime.supervisor.plan import RoutePlan, plan_routes, slot_id
from routemq_runtime.supervisor.preflight import problems as preflight_problems
from routemq_runtime.supervisor.processes import (
    describe_exit,
    exited_slots,
    flush_all,
    signal_slot,
    wait_pid,
)
from routemq_runtime.supervisor.restart import DeathRecord, RestartPolicy
from routemq_runtime.supervisor.rundir import RunDir, ensure_metrics_dir, mark_process_dead
from routemq_runtime.supervisor.scaling import RouteScaler, ScalingPolicy
from routemq_runtime.supervisor.signals import SignalQueue
from routemq_runtime.supervisor.slot import Slot
from routemq_runtime.supervisor.snapshot import Snapshot, take_snapshot

logger = logging.getLogger("routemq.supervisor")

SlotTarget = Callable[[Any, Router], int | None]

#: A slot exiting with this code cannot be helped by a restart (bad route, refused credentials):
#: stop everything and let the operator see it. Same value as the worker's ``EXIT_BOOT_ERROR``.
EXIT_BOOT_ERROR = 3
#: Exit code of a supervisor that gave up on a slot that kept dying.
EXIT_SLOT_FAILED = 1

_TICK = 1.0


def _group_slug(group: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", group).strip("-") or "group"


class WorkerManager:
    """Run a router's routes in supervised worker processes (one per slot).

    ``run()`` supervises in the calling process and blocks until SIGTERM/SIGINT (what
    ``python -m routemq_runtime run`` and a container's PID 1 use). ``start_workers()`` does the
    same in a forked supervisor process and returns at once; ``stop_workers()`` drains it. This
    lets several managers with different group names run side by side from one program.

    Slot counts: each shared route gets ``num_workers`` slots when given, else ``WORKER_COUNT``
    when set, else its own ``worker_count``. Non-shared routes share one extra slot with
    ordinary subscriptions. With ``WORKER_AUTO_SCALE`` the counts then move between
    ``WORKER_MIN_COUNT`` and ``WORKER_MAX_COUNT``.
    """

    def __init__(
        self,
        router: Router | None = None,
        group_name: str | None = None,
        router_directory: str = "app.routers",
        config: Config | None = None,
        *,
        slot_target: SlotTarget | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        restart_policy: RestartPolicy | None = None,
        scaling_policy: ScalingPolicy | None = None,
        auto_scale: bool | None = None,
        heartbeat_timeout: float | None = None,
        health_host: str | None = None,
        retire_signal: int | None = None,
    ) -> None:
        # Before anything can import prometheus_client: multiprocess mode is chosen at import.
        self.metrics_dir = ensure_metrics_dir()
        self.config = config if config is not None else Config.from_env()
        self.group_name = group_name or self.config.mqtt_group_name
        self.router_directory = router_directory
        self._router = router
        self._slot_target = slot_target
        self._run_dir_arg = run_dir
        self.restart_policy = restart_policy or RestartPolicy()
        self.scaling_policy = scaling_policy or ScalingPolicy()
        self.auto_scale = self.config.worker_auto_scale if auto_scale is None else auto_scale
        self.heartbeat_timeout = heartbeat_timeout or self.config.heartbeat_timeout
        self.health_host = health_host or self.config.health_host
        self.retire_signal = retire_signal
        self.logger = logger

        self.plans: dict[str, RoutePlan] = {}
        self.targets: dict[str, int] = {}
        self.slots: dict[str, Slot] = {}
        self.run_dir: RunDir | None = None
        self.restarts = 0
        self._signals = SignalQueue()
        self._stopping = False
        self._stop_deadline = 0.0
        self._murdered = False
        self._exit_code = 0
        self._snapshot = Snapshot(0.0, False, ())
        self._health: Any = None
        self._scalers: dict[str, RouteScaler] = {}
        self._sampler: Any = None
        self._next_sample = 0.0
        self._parent_pid: int | None = None
        self._background_pid: int | None = None
        self._running = False
        self._retire_with: int = signal.SIGTERM
        self._done = threading.Event()

    # ------------------------------------------------------------------ routes and plan

    @property
    def router(self) -> Router:
        if self._router is None:
            self._router = RouterRegistry(self.router_directory).discover_and_load_routers()
        return self._router

    def get_shared_routes_info(self) -> list[dict[str, Any]]:
        """One dict per shared route: pattern, filter, subscription, qos and worker count."""
        info = []
        for route in self.router.routes:
            if not route.shared:
                continue
            info.append(
                {
                    "key": route.key,
                    "pattern": route.pattern,
                    "topic": route.pattern,
                    "mqtt_topic": route.filter,
                    "subscription": route.subscription(self.group_name),
                    "qos": route.qos,
                    "worker_count": route.worker_count,
                    "handler": route.handler_name,
                }
            )
        return info

    def plan(self, num_workers: int | None = None) -> list[RoutePlan]:
        """The slots this manager would run (``num_workers`` overrides every shared route)."""
        return plan_routes(
            self.router,
            num_workers=num_workers if num_workers is not None else self.config.worker_count,
            auto_scale=self.auto_scale,
            min_count=self.config.worker_min_count,
            max_count=self.config.worker_max_count,
        )

    def _slot_key(self, route_key: str) -> str:
        # Managers for other groups run beside the default one on the same host: their slots
        # need names and client ids of their own, or the broker would hand one session back
        # and forth between them (and their metrics would mix).
        if self.group_name != self.config.mqtt_group_name:
            return f"{_group_slug(self.group_name)}-{route_key}"
        return route_key

    def client_id(self, route_key: str, index: int) -> str:
        """The stable client id of a route's slot ``index`` under this manager."""
        from routemq_runtime.worker import slot_client_id

        return slot_client_id(self.config, self._slot_key(route_key), index)

    def _make_slot(self, plan: RoutePlan, index: int) -> Slot:
        from routemq_runtime.worker import SlotSpec

        assert self.run_dir is not None
        sid = slot_id(self._slot_key(plan.key), index)
        spec = SlotSpec(
            slot_id=sid,
            index=index,
            route_patterns=plan.patterns,
            shared=plan.shared,
            group=self.group_name,
            client_id=self.client_id(plan.key, index),
            config=self.config,
            concurrency=self.config.worker_concurrency,
            heartbeat_path=self.run_dir.heartbeat_path(sid),
            ready_path=self.run_dir.ready_path(sid),
        )
        return Slot(plan.key, index, sid, spec, DeathRecord(self.restart_policy))

    # ------------------------------------------------------------------ public control

    def run(self, num_workers: int | None = None) -> int:
        """Supervise the slots in this process until stopped; return the exit code."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("WorkerManager.run() must be called from the main thread")
        if self._running:
            raise RuntimeError("this WorkerManager is already running")
        plans = self.plan(num_workers)
        self._preflight()
        target = self._resolve_target()
        self._running = True
        self._done.clear()
        self._exit_code = 0
        self._stopping = False
        self._murdered = False
        try:
            self.run_dir = RunDir(
                self._run_dir_arg, prefix=f"routemq-{_group_slug(self.group_name)}-"
            )
            self._target = target
            self._signals.open()
            self._start_health()
            self._signals.install()
            now = time.monotonic()
            self.plans.clear()
            self.targets.clear()
            for plan in plans:
                self.plans[plan.key] = plan
                self.targets[plan.key] = plan.count
                self._scalers[plan.key] = RouteScaler(self.scaling_policy)
            self._reconcile(now)
            self.logger.info(
                "supervisor %d starting %d slot(s) for %d route group(s) in group %r%s",
                os.getpid(),
                len(self.slots),
                len(plans),
                self.group_name,
                " (auto-scaling)" if self.auto_scale else "",
            )
            self._loop()
        finally:
            self._teardown()
            self._running = False
            self._done.set()
        self.logger.info("supervisor %d stopped (exit code %d)", os.getpid(), self._exit_code)
        return self._exit_code

    serve = run

    def start_workers(self, num_workers: int | None = None) -> int:
        """Fork a supervisor process that runs the slots; return its pid at once."""
        if self._background_pid is not None:
            raise RuntimeError("workers are already started; call stop_workers() first")
        self.plan(num_workers)  # fail here, in the caller, on a bad router or count
        self._preflight()
        self._resolve_target()
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self._parent_pid = parent
                code = self.run(num_workers)
            except BaseException:
                self.logger.exception("supervisor for group %r failed", self.group_name)
            finally:
                flush_all()
                os._exit(code)
        self._background_pid = pid
        self.logger.info("started supervisor %d for group %r", pid, self.group_name)
        return pid

    def stop_workers(self, timeout: float | None = None) -> int | None:
        """Drain every slot and stop. Returns the supervisor's exit code when it has one."""
        budget = self.config.drain_timeout + 5.0 if timeout is None else timeout
        if self._background_pid is not None:
            pid, self._background_pid = self._background_pid, None
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            return wait_pid(pid, budget)
        if self._running:
            self._signals.request(signal.SIGTERM)
            if threading.current_thread() is not threading.main_thread():
                self._done.wait(budget)
            return None
        return None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for a supervisor started with ``start_workers()``; its exit code, or None."""
        if self._background_pid is None:
            return None
        code = wait_pid(self._background_pid, timeout, kill=False)
        if code is not None:
            self._background_pid = None
        return code

    @property
    def workers(self) -> list[int]:
        """Pids of the running slot processes (in the supervising process)."""
        return [s.pid for s in self.slots.values() if s.pid]

    @property
    def pid(self) -> int | None:
        """The background supervisor's pid (``start_workers()``), else None."""
        return self._background_pid

    def scale_route(self, route_key: str, count: int) -> int:
        """Set a shared route's slot count (within its bounds); applied by the loop."""
        plan = self.plans[route_key]
        self.targets[route_key] = plan.clamp(count)
        return self.targets[route_key]

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # ------------------------------------------------------------------ the loop

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
                self._check_heartbeats(now)
                self._autoscale(now)
                self._reconcile(now)
                self._kill_overdue_retirees(now)
            self._publish(now)
            self._signals.sleep(self._timeout(now))

    def _timeout(self, now: float) -> float:
        deadlines = [now + _TICK]
        if self._stopping:
            deadlines.append(self._stop_deadline)
        for slot in self.slots.values():
            if slot.pid is None and not slot.retiring:
                deadlines.append(slot.start_at)
            if slot.kill_at is not None:
                deadlines.append(slot.kill_at)
        if self.auto_scale and not self._stopping:
            deadlines.append(self._next_sample)
        return max(0.0, min(deadlines) - now)

    # ------------------------------------------------------------------ signals

    def _handle_signals(self, now: float) -> None:
        while (sig := self._signals.pop()) is not None:
            if sig in (signal.SIGTERM, signal.SIGINT):
                if not self._stopping:
                    self.logger.info(
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
                self.logger.info("%s: route %s %d -> %d slot(s)", why, key, old, new)
            else:
                self.logger.info("%s: route %s stays at %d slot(s) (bounds)", why, key, old)

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
            self.logger.warning(
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
            slot.pid = None
            slot.killed = False
            assert self.run_dir is not None
            self.run_dir.ready_path(slot.slot_id).unlink(missing_ok=True)
            how = describe_exit(code)
            if self._stopping or slot.retiring:
                self.logger.info("slot %s (pid %d) stopped: %s", slot.slot_id, pid, how)
                del self.slots[slot.slot_id]
                self.run_dir.forget(slot.slot_id)
                continue
            if code == EXIT_BOOT_ERROR:
                self.logger.critical(
                    "slot %s (pid %d) could not boot (exit code %d); stopping",
                    slot.slot_id,
                    pid,
                    code,
                )
                self._begin_stop(now, EXIT_BOOT_ERROR)
                continue
            lived = now - slot.started
            delay = slot.deaths.record(now, lived)
            if slot.deaths.exhausted:
                self.logger.critical(
                    "slot %s died %d times within %.0f s (last: %s); giving up",
                    slot.slot_id,
                    len(slot.deaths.times),
                    self.restart_policy.window,
                    how,
                )
                self._begin_stop(now, EXIT_SLOT_FAILED)
                continue
            slot.start_at = now + delay
            self.restarts += 1
            self._count_restart(slot)
            self.logger.warning(
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
                sid = slot_id(self._slot_key(key), index)
                if sid not in self.slots:
                    self.slots[sid] = self._make_slot(plan, index)
                    self.slots[sid].start_at = now
            extra = [
                s
                for s in self.slots.values()
                if s.route_key == key and s.index >= target and not s.retiring
            ]
            for slot in sorted(extra, key=lambda s: -s.index):
                self._retire(slot, now)
        for slot in list(self.slots.values()):
            if slot.pid is None and not slot.retiring and slot.start_at <= now:
                self._spawn(slot, now)

    def _retire(self, slot: Slot, now: float) -> None:
        if slot.pid is None:
            del self.slots[slot.slot_id]
            assert self.run_dir is not None
            self.run_dir.forget(slot.slot_id)
            return
        slot.retiring = True
        slot.kill_at = now + self.config.drain_timeout
        self.logger.info("draining slot %s (pid %d)", slot.slot_id, slot.pid)
        signal_slot(slot, self._retire_with)

    def _kill_overdue_retirees(self, now: float) -> None:
        for slot in self.slots.values():
            if slot.retiring and slot.pid and slot.kill_at is not None and now >= slot.kill_at:
                self.logger.warning("slot %s did not drain in time; killing it", slot.slot_id)
                slot.kill_at = None
                signal_slot(slot, signal.SIGKILL)

    def _check_heartbeats(self, now: float) -> None:
        assert self.run_dir is not None
        wall = time.time()
        for slot in self.slots.values():
            if slot.pid is None or slot.killed or slot.retiring:
                continue
            age = self.run_dir.heartbeat_age(slot.slot_id, wall)
            if age > self.heartbeat_timeout:
                self.logger.error(
                    "slot %s (pid %d) sent no heartbeat for %.0f s; killing it",
                    slot.slot_id,
                    slot.pid,
                    age,
                )
                slot.killed = True
                signal_slot(slot, signal.SIGKILL)

    def _check_parent(self) -> None:
        # A background supervisor whose program died must not outlive it.
        if self._parent_pid is not None and os.getppid() != self._parent_pid:
            self.logger.warning("parent process %d is gone; stopping", self._parent_pid)
            self._parent_pid = None
            self._signals.request(signal.SIGTERM)

    def _spawn(self, slot: Slot, now: float) -> None:
        assert self.run_dir is not None
        self.run_dir.reset(slot.slot_id)
        flush_all()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            self._child(slot, parent)
        slot.pid = pid
        slot.started = now
        slot.killed = False
        self.logger.debug("slot %s started as pid %d", slot.slot_id, pid)

    def _child(self, slot: Slot, parent: int) -> None:
        code = 1
        try:
            self._signals.reset_in_child()
            # After the reset: the supervisor's handler would only queue the signal here.
            die_with_parent(parent)
            if self._health is not None:
                self._health.close_in_child()
            result = self._target(slot.spec, self.router)
            code = 0 if result is None else int(result)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            self.logger.exception("slot %s crashed", slot.slot_id)
            code = 1
        finally:
            flush_all()
            os._exit(code)

    def _preflight(self) -> None:
        # What every slot would trip over (a TLS file it cannot load, a group name the broker
        # reads as a longer filter) is one error now, not a crash loop or silence later.
        found = preflight_problems(self.config, self.group_name)
        if found:
            raise ConfigError(found)

    def _resolve_target(self) -> SlotTarget:
        if self._slot_target is not None:
            self._retire_with = self.retire_signal or signal.SIGTERM
            return self._slot_target
        # Imported here, in the supervisor, so every forked slot starts with them loaded (and
        # shares their memory) instead of importing them again.
        import routemq_runtime.metrics
        import routemq_runtime.transport  # noqa: F401  (paho-mqtt)
        import routemq_runtime.worker as worker

        # A slot removed by scaling down must also end its broker session (or the broker keeps
        # queueing its share of the messages for it); the worker names the signal that asks
        # for that. Plain SIGTERM drains and keeps the session, for a restart.
        self._retire_with = self.retire_signal or getattr(worker, "RETIRE_SIGNAL", signal.SIGTERM)
        return worker.run_slot

    # ------------------------------------------------------------------ scaling, metrics

    def _autoscale(self, now: float) -> None:
        if not self.auto_scale or now < self._next_sample:
            return
        self._next_sample = now + self.scaling_policy.interval
        if self._sampler is None:
            from routemq_runtime.supervisor.load import LoadSampler

            self._sampler = LoadSampler(self.metrics_dir)
        samples = self._sampler.sample(self.plans, self.slots, now)
        for key, sample in samples.items():
            plan = self.plans[key]
            if not plan.shared:
                continue
            current = self.targets[key]
            load = sample.load(
                self.config.worker_concurrency, self.scaling_policy.messages_per_worker
            )
            wanted = self._scalers[key].decide(now, current, load, plan.minimum, plan.maximum)
            if wanted != current:
                self.logger.info(
                    "auto-scale: route %s %d -> %d slot(s) (%.0f msg/s, load %.2f slots)",
                    key,
                    current,
                    wanted,
                    sample.rate,
                    load,
                )
                self.targets[key] = wanted

    def get_message_rate(self, route_key: str) -> float:
        """The last measured message rate of a route (auto-scaling only), in messages/s."""
        if self._sampler is None:
            return 0.0
        return self._sampler.rates.get(route_key, 0.0)

    def _count_restart(self, slot: Slot) -> None:
        try:
            from routemq_runtime.supervisor.load import count_restart

            count_restart(slot.slot_id)
        except Exception as error:  # metrics must never stop supervision
            self.logger.debug("could not count restart: %s", error)

    # ------------------------------------------------------------------ health

    def _start_health(self) -> None:
        port = self.config.health_port
        if port is None:
            return
        from routemq_runtime.health import HealthServer

        self._health = HealthServer(self, port=port, host=self.health_host)
        self._health.start()

    def _publish(self, now: float) -> None:
        self._snapshot = take_snapshot(self.slots.values(), now, self._stopping)

    # ------------------------------------------------------------------ teardown

    def _teardown(self) -> None:
        self._signals.restore()
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
        self._signals.close()
        if self.run_dir is not None:
            self.run_dir.remove()
        self._publish(time.monotonic())
