"""WorkerManager: the public face of the supervisor.

It turns a router into route plans and slot descriptions, checks what every slot would trip
over, and then hands the table to an :class:`~routemq_runtime.supervisor.arbiter.Arbiter`,
in this process (``run``) or in a forked one (``start_workers``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routemq_runtime.config import Config, ConfigError
from routemq_runtime.lifecycle import EXIT_BOOT_ERROR, EXIT_FAILED, RETIRE_SIGNAL
from routemq_runtime.presence.record import Filter
from routemq_runtime.presence.roster import Abandoned
from routemq_runtime.routing import Router, RouterRegistry
from routemq_runtime.supervisor.arbiter import Arbiter, ArbiterSettings
from routemq_runtime.supervisor.control import WorkerControl
from routemq_runtime.supervisor.handles import HandleFile
from routemq_runtime.supervisor.plan import RoutePlan, plan_routes, slot_id
from routemq_runtime.supervisor.preflight import problems as preflight_problems
from routemq_runtime.supervisor.processes import exit_child, wait_pid
from routemq_runtime.supervisor.restart import DeathRecord, RestartPolicy
from routemq_runtime.supervisor.rundir import RunDir, ensure_metrics_dir
from routemq_runtime.supervisor.scaling import ScalingPolicy
from routemq_runtime.supervisor.slot import Slot
from routemq_runtime.supervisor.snapshot import Snapshot
from routemq_runtime.worker.dead_letter import dead_letter_session
from routemq_runtime.worker.spec import SlotSpec, instance_id, safe_name, slot_client_id

if TYPE_CHECKING:
    from routemq_runtime.supervisor.fleet import Fleet
    from routemq_runtime.worker.process import Worker

logger = logging.getLogger("routemq.supervisor")

SlotTarget = Callable[[SlotSpec, Router], int | None]

#: Exit code of a supervisor that gave up on a slot that kept dying.
EXIT_SLOT_FAILED = EXIT_FAILED
__all__ = ["EXIT_BOOT_ERROR", "EXIT_SLOT_FAILED", "SlotTarget", "WorkerManager"]


def _group_slug(group: str) -> str:
    return safe_name(group, "group")


class WorkerManager(WorkerControl):
    """Run a router's routes in supervised worker processes (one per slot).

    ``run()`` supervises in the calling process and blocks until SIGTERM/SIGINT (what
    ``python -m routemq_runtime run`` and a container's PID 1 use). ``start_workers()`` does the
    same in a forked supervisor process and returns at once; ``stop_workers()`` drains it. This
    lets several managers with different group names run side by side from one program.

    Slot counts: ``num_workers`` when given, else ``WORKER_COUNT`` when set, is the number of
    shared-route worker processes in total, shared out over the shared routes in proportion to
    their ``worker_count`` (at least one each); without either each shared route gets its own
    ``worker_count``. Non-shared routes share one extra slot with ordinary subscriptions.
    With ``WORKER_AUTO_SCALE`` the counts then move between
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
        worker_class: type[Worker] | None = None,
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

        self._arbiter: Arbiter | None = None
        self._fleet: Fleet | None = None
        self._run_slot: SlotTarget | None = None
        self._parent_pid: int | None = None
        self._background_pid: int | None = None
        self._handle_file: HandleFile | None = None
        #: What each worker process runs (a subclass of the page's ``WorkerProcess``).
        self.worker_class = worker_class
        self._done = threading.Event()

    # ------------------------------------------------------------------ routes and plan

    @property
    def router(self) -> Router:
        if self._router is None:
            self._router = RouterRegistry(self.router_directory).discover_and_load_routers()
        return self._router

    def get_shared_routes_info(self) -> list[dict[str, Any]]:
        """One dict per shared route: pattern, filter, subscription, qos and worker count.

        Kept for code written against the original RouteMQ (``topic`` and ``mqtt_topic`` are its
        names for the pattern and the filter)."""
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
        """The slots this manager would run (``num_workers``: shared-route processes in total)."""
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
        return slot_client_id(self.config, self._slot_key(route_key), index)

    def _make_slot(self, plan: RoutePlan, index: int, run_dir: RunDir) -> Slot:
        sid = slot_id(self._slot_key(plan.key), index)
        client_id = self.client_id(plan.key, index)
        spec = SlotSpec(
            slot_id=sid,
            index=index,
            route_patterns=plan.patterns,
            shared=plan.shared,
            group=self.group_name,
            client_id=client_id,
            config=self.config,
            concurrency=self.config.worker_concurrency,
            heartbeat_path=run_dir.heartbeat_path(sid),
            ready_path=run_dir.ready_path(sid),
            stale_filters=self._fleet.stale_for(client_id) if self._fleet else (),
            worker_number=self._next_worker_number(),
        )
        return Slot(plan.key, index, sid, spec, DeathRecord(self.restart_policy))

    # ------------------------------------------------------------------ public control

    def run(self, num_workers: int | None = None) -> int:
        """Supervise the slots in this process until stopped; return the exit code."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("WorkerManager.run() must be called from the main thread")
        if self._arbiter is not None and not self._done.is_set():
            raise RuntimeError("this WorkerManager is already running")
        plans = self.plan(num_workers)
        self._preflight()
        target, retire_signal = self._resolve_target()
        router = self.router
        self._done.clear()
        run_dir = RunDir(self._run_dir_arg, prefix=f"routemq-{_group_slug(self.group_name)}-")
        self._fleet = self._make_fleet() if target is self._run_slot else None
        self._arbiter = Arbiter(
            self._settings(retire_signal),
            run_dir,
            self._make_slot,
            lambda slot: target(slot.spec, router),
        )
        try:
            if self._fleet is not None:
                self._fleet.start()
            code = self._arbiter.run(plans)
        finally:
            if self._fleet is not None:
                self._fleet.stop()
            self._done.set()
        logger.info("supervisor %d stopped (exit code %d)", os.getpid(), code)
        return code

    #: The original RouteMQ's name for :meth:`run`.
    serve = run

    def _settings(self, retire_signal: int) -> ArbiterSettings:
        return ArbiterSettings(
            config=self.config,
            group_name=self.group_name,
            restart_policy=self.restart_policy,
            scaling_policy=self.scaling_policy,
            auto_scale=self.auto_scale,
            heartbeat_timeout=self.heartbeat_timeout,
            health_host=self.health_host,
            retire_signal=retire_signal,
            metrics_dir=self.metrics_dir,
            parent_pid=self._parent_pid,
            slot_key=self._slot_key,
            fleet=self._fleet,
            on_snapshot=self._handle_file.write if self._parent_pid else None,
        )

    def start_workers(self, num_workers: int | None = None) -> int:
        """Fork a supervisor process that runs the slots; return its pid at once."""
        if self._background_pid is not None:
            raise RuntimeError("workers are already started; call stop_workers() first")
        self.plan(num_workers)  # fail here, in the caller, on a bad router or count
        self._preflight()
        self._resolve_target()
        parent = os.getpid()
        # The forked supervisor's table reaches this process through a file (``workers``).
        self._handle_file = HandleFile(Path(tempfile.mkdtemp(prefix="routemq-workers-")) / "w")
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._parent_pid = parent
            exit_child(lambda: self.run(num_workers), f"supervisor for group {self.group_name!r}")
        self._background_pid = pid
        logger.info("started supervisor %d for group %r", pid, self.group_name)
        return pid

    def stop_workers(self, timeout: float | None = None) -> int | None:
        """Drain every slot and stop. Returns the supervisor's exit code when it has one."""
        budget = self.config.drain_timeout + 5.0 if timeout is None else timeout
        if self._background_pid is not None:
            pid, self._background_pid = self._background_pid, None
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            code = wait_pid(pid, budget)
            if self._handle_file is not None:
                self._handle_file.remove()
            return code
        arbiter = self._arbiter
        if arbiter is not None and not self._done.is_set():
            arbiter.request_stop()
            if threading.current_thread() is not threading.main_thread():
                self._done.wait(budget)
        return None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for a supervisor started with ``start_workers()``; its exit code, or None."""
        code = wait_pid(self._background_pid, timeout, kill=False) if self._background_pid else None
        self._background_pid = None if code is not None else self._background_pid
        return code

    # ------------------------------------------------------------------ what the loop holds

    @property
    def pid(self) -> int | None:
        """The background supervisor's pid (``start_workers()``), else None."""
        return self._background_pid

    @property
    def slots(self) -> dict[str, Slot]:
        return self._arbiter.slots if self._arbiter else {}

    @property
    def plans(self) -> dict[str, RoutePlan]:
        return self._arbiter.plans if self._arbiter else {}

    @property
    def targets(self) -> dict[str, int]:
        return self._arbiter.targets if self._arbiter else {}

    @property
    def restarts(self) -> int:
        return self._arbiter.restarts if self._arbiter else 0

    @property
    def run_dir(self) -> RunDir | None:
        return self._arbiter.run_dir if self._arbiter else None

    def scale_route(self, route_key: str, count: int) -> int:
        """Set a shared route's slot count (within its bounds); applied by the loop."""
        if self._arbiter is None:
            raise RuntimeError("scale_route() needs a running supervisor")
        return self._arbiter.scale_route(route_key, count)

    def snapshot(self) -> Snapshot:
        return self._arbiter.snapshot() if self._arbiter else Snapshot(0.0, False, ())

    def get_message_rate(self, route_key: str) -> float:
        """The last measured message rate of a route (auto-scaling only), in messages/s.

        The original RouteMQ's name; the rate is what auto-scaling measured last."""
        return self._arbiter.message_rate(route_key) if self._arbiter else 0.0

    # ------------------------------------------------------------------ the broker beyond the slots

    def _make_fleet(self) -> Fleet:
        config, router = self.config, self.router
        instance = instance_id(config)
        if self.group_name != config.mqtt_group_name:
            instance = f"{instance}-{_group_slug(self.group_name)}"
        # Imported here: paho-mqtt loads only once real slots are going to run.
        from routemq_runtime.supervisor.fleet import Fleet, FleetPlan
        from routemq_runtime.transport.probe import probe_topic

        topic: str | None = probe_topic(config, instance)
        if not any(route.shared for route in router.routes):
            topic = None
        elif router.match(str(topic)) is not None:
            logger.warning("a route matches %r: skipping the shared-subscription check", topic)
            topic = None
        return Fleet(
            FleetPlan(
                config=config,
                group=self.group_name,
                instance=instance,
                probe_topic=topic,
                dead_letter_session=dead_letter_session(config.app_name)
                if config.dlq_keep
                else None,
                filters_of=self._filters_of,
                adopt=self._adopt,
            )
        )

    def _filters_of(self, slot: Slot) -> tuple[Filter, ...]:
        spec = slot.spec
        group = spec.group if spec.shared else None
        routes = (self.router.find(pattern) for pattern in spec.route_patterns)
        return tuple((route.subscription(group), route.qos) for route in routes)

    def _adopt(self, item: Abandoned) -> Slot:
        """A slot that retires ``item``'s session with every route of the app at hand."""
        sid = f"retire-{safe_name(item.client_id)}"
        spec = SlotSpec(
            slot_id=sid,
            index=0,
            route_patterns=tuple(route.pattern for route in self.router.routes),
            shared=True,
            group=self.group_name,
            client_id=item.client_id,
            config=self.config,
            concurrency=self.config.worker_concurrency,
            stale_filters=tuple(topic_filter for topic_filter, _qos in item.filters),
            adopted=True,
        )
        slot = Slot("(retire)", 0, sid, spec, DeathRecord(self.restart_policy), adopted=True)
        slot.retiring = True
        slot.kill_at = time.monotonic() + self.config.drain_timeout + 15.0
        return slot

    # ------------------------------------------------------------------ before any fork

    def _preflight(self) -> None:
        # What every slot would trip over (a TLS file it cannot load, a group name the broker
        # reads as a longer filter) is one error now, not a crash loop or silence later.
        found = preflight_problems(self.config, self.group_name)
        if found:
            raise ConfigError(found)

    def _resolve_target(self) -> tuple[SlotTarget, int]:
        """What a forked slot runs, and the signal that retires one for good."""
        if self._slot_target is not None:
            return self._slot_target, self.retire_signal or signal.SIGTERM
        # Imported here, in the supervisor, so every forked slot starts with them loaded (and
        # shares their memory) instead of importing them again: the chosen MQTT client too.
        import routemq_runtime.worker.pipeline  # noqa: F401  (with metrics; loaded by Worker())
        from routemq_runtime.transport import slot_transport
        from routemq_runtime.worker import Worker, run_slot

        slot_transport(self.config)
        self._run_slot = functools.partial(run_slot, worker_class=self.worker_class or Worker)
        # A slot removed by scaling down must also end its broker session (or the broker keeps
        # queueing its share of the messages for it). Plain SIGTERM drains and keeps the
        # session, for a restart.
        return self._run_slot, self.retire_signal or RETIRE_SIGNAL
