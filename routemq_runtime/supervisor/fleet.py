"""The supervisor's view of the broker beyond its own slots: the capability check before any
slot starts, the app's dead-letter session, presence, and retiring sessions nobody will resume.

Started before the first slot: it proves that the broker delivers through ``$share/{group}/...``
(else the app stops with :data:`EXIT_BOOT_ERROR`), makes sure the dead-letter session exists,
reads what this instance announced last time (filters a resumed session may still hold, slots a
smaller layout dropped) and announces the new layout. The loop then asks it, once per pass, for
sessions to retire: this instance's own leftovers at once, a related offline instance's after
the grace period. Each is retired by an *adopted* slot, a worker process that connects as that
session, handles what it holds, unsubscribes and ends it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from routemq_runtime.config import Config
from routemq_runtime.failed.keeper import DeadLetterKeeper, start_keeper
from routemq_runtime.lifecycle import EXIT_BOOT_ERROR
from routemq_runtime.presence.beacon import Beacon
from routemq_runtime.presence.record import Filter, Layout
from routemq_runtime.presence.roster import Abandoned, Roster
from routemq_runtime.supervisor.slot import Slot
from routemq_runtime.transport.backoff import backoff_delay
from routemq_runtime.transport.connection import HINT_AFTER_ATTEMPTS
from routemq_runtime.transport.durable import hold_subscription
from routemq_runtime.transport.paho_client import (
    FATAL_CONNACK,
    BrokerRefused,
    new_client,
    unreachable_hint,
    with_connection,
)
from routemq_runtime.transport.probe import (
    SharedSubscriptionsMissing,
    probe_shared_subscriptions,
)

log = logging.getLogger("routemq.supervisor")

#: Sessions retired at the same time (each is one short-lived worker process).
MAX_ADOPTED = 4
#: Seconds before a failed retirement (owner back, broker gone) is tried again.
RETRY_AFTER = 5.0


@dataclass(frozen=True)
class FleetPlan:
    """What the fleet needs to know of this supervisor."""

    config: Config
    group: str
    instance: str
    #: The probe's topic; None skips the probe (a route would match it, or nothing is shared).
    probe_topic: str | None
    dead_letter_session: str | None
    filters_of: Callable[[Slot], tuple[Filter, ...]]
    adopt: Callable[[Abandoned], Slot]


class Fleet:
    def __init__(self, plan: FleetPlan) -> None:
        self.plan = plan
        config = plan.config
        self.roster = Roster(plan.instance, config.app_name, plan.group, config.retire_grace)
        self.beacon = Beacon(config, plan.instance, self.roster)
        self.started = False
        self.fatal: str | None = None
        self.previous: Layout | None = None
        self._leftovers: list[Abandoned] | None = None
        self._announced: Layout | None = None
        self._adopted: dict[str, tuple[Abandoned, Slot]] = {}
        self._retry_at: dict[str, float] = {}
        self._finished: set[str] = set()
        self._stopped = threading.Event()
        self._beacon_started = False
        self.keeper: DeadLetterKeeper | None = None

    # -- before the first slot -------------------------------------------------------------------

    def start(self) -> None:
        threading.Thread(target=self._prepare, name="routemq-fleet", daemon=True).start()

    def _prepare(self) -> None:
        try:
            if not self._probe():
                return
            self._keep_dead_letters()
            self.beacon.start()
            self._beacon_started = True
            while not self.beacon.synced.wait(0.2):
                if self.beacon.fatal or self._stopped.is_set():
                    self.fatal = self.fatal or self.beacon.fatal
                    return
            with self.beacon.lock:
                previous = self.roster.layout_of(self.plan.instance)
            # The same name used by an unrelated app (a shared MQTT_CLIENT_ID) is not ours.
            if previous is not None and previous.related(self.roster.app, self.roster.group):
                self.previous = previous
            self.started = True
        except Exception as error:  # a bug here must stop the app, not leave it never ready
            log.exception("broker check failed")
            self.fatal = f"broker check failed: {error}"

    def _probe(self) -> bool:
        config, attempt = self.plan.config, 0
        where = f"{config.mqtt_broker}:{config.mqtt_port}"
        while not self._stopped.is_set():
            attempt += 1
            try:
                seconds = self._check()
            except SharedSubscriptionsMissing as error:
                self.fatal = (
                    f"the broker at {where} does not support shared subscriptions "
                    f"($share/{self.plan.group}/...): {error}; use one that does "
                    "(mosquitto 2, EMQX, HiveMQ, VerneMQ)"
                )
                return False
            except BrokerRefused as error:
                if str(error) in FATAL_CONNACK:
                    # The slots meet the same refusal and stop the app with their own line
                    # (client id, reason, what to change): nothing more to check here.
                    self.started = True
                    return False
                self._wait_retry(where, error, attempt)
                continue
            except (OSError, TimeoutError) as error:
                self._wait_retry(where, error, attempt)
                continue
            if seconds is not None:
                log.info(
                    "broker at %s delivers through $share/%s/... (probe: %.0f ms)",
                    where,
                    self.plan.group,
                    seconds * 1000,
                )
            return True
        return False

    def _wait_retry(self, where: str, error: Exception, attempt: int) -> None:
        delay = backoff_delay(attempt, 0.5, 30.0)
        log.warning(
            "connect to %s: %s; reconnecting in %.2fs (attempt %d)", where, error, delay, attempt
        )
        if attempt == HINT_AFTER_ATTEMPTS:
            log.warning("%s", unreachable_hint(self.plan.config))
        self._stopped.wait(delay)

    def _check(self) -> float | None:
        """The probe's round trip; without a probe topic, only that the broker answers."""
        config, topic = self.plan.config, self.plan.probe_topic
        if topic is None:
            client = new_client(config, clean_session=True)
            with_connection(config, client, lambda _client, _left: None, config.probe_timeout)
            return None
        return probe_shared_subscriptions(config, self.plan.group, topic, config.probe_timeout)

    def _keep_dead_letters(self) -> None:
        client_id = self.plan.dead_letter_session
        if client_id is None:
            return
        dlq = f"{self.plan.config.dlq_prefix.rstrip('/')}/#"
        try:
            present = hold_subscription(self.plan.config, client_id, dlq)
        except (OSError, TimeoutError) as error:
            log.warning("could not keep the dead-letter session %r: %s", client_id, error)
        else:
            if not present:
                log.info("dead letters are kept in session %r (%s)", client_id, dlq)
        finally:
            self.keeper = start_keeper(self.plan.config, client_id)

    def stale_for(self, client_id: str) -> tuple[str, ...]:
        """Every filter this client id's session had last time (the worker keeps the current)."""
        if self.previous is None:
            return ()
        return tuple(f for f, _qos in self.previous.clients.get(client_id, ()))

    # -- once per loop pass ----------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Broker checked and this instance's own leftovers retired."""
        return self.started and self._leftovers is not None and not self._leftovers

    def tick(self, now: float, slots: dict[str, Slot]) -> tuple[int | None, list[Slot]]:
        """``(exit code, None to go on)`` and the adopted slots to add to the table."""
        if self.fatal:
            log.critical("%s", self.fatal)
            self.fatal, self.started = None, False
            return EXIT_BOOT_ERROR, []
        if not self.started:
            return None, []
        own = {s.spec.client_id: self.plan.filters_of(s) for s in slots.values() if not s.adopted}
        if not own:
            return None, []
        if self._leftovers is None:
            self._leftovers = self._own_leftovers(own)
        self._collect()
        self._announce(own)
        return None, self._adoptions(now)

    def _own_leftovers(self, own: dict[str, tuple[Filter, ...]]) -> list[Abandoned]:
        previous = self.previous
        if previous is None:
            return []
        gone = [
            Abandoned(self.plan.instance, cid, fs)
            for cid, fs in sorted(previous.clients.items())
            if cid not in own
        ]
        if gone:
            log.info("retiring %d session(s) the previous layout had: %s", len(gone), gone)
        return gone

    def _announce(self, own: dict[str, tuple[Filter, ...]]) -> None:
        # Own leftovers stay announced until retired: a crash meanwhile must not forget them.
        clients = {**{a.client_id: a.filters for a in self._leftovers or ()}, **own}
        layout = Layout(self.plan.instance, self.plan.config.app_name, self.plan.group, clients)
        if self._announced is None or self._announced.clients != layout.clients:
            self._announced = layout
            self.beacon.announce(layout)

    def _adoptions(self, now: float) -> list[Slot]:
        with self.beacon.lock:
            due = list(self._leftovers or ()) + self.roster.due(now)
        added = []
        for item in due:
            cid = item.client_id
            if cid in self._adopted or cid in self._finished or self._retry_at.get(cid, 0) > now:
                continue
            if len(self._adopted) >= MAX_ADOPTED:
                break
            slot = self.plan.adopt(item)
            slot.start_at = now
            self._adopted[cid] = (item, slot)
            added.append(slot)
            log.info("retiring session %r left by %s", cid, item.instance)
        return added

    def _collect(self) -> None:
        """Account for adopted slots that have exited."""
        for cid, (item, slot) in list(self._adopted.items()):
            if slot.exit_code is None:
                continue
            del self._adopted[cid]
            if slot.exit_code != 0:
                self._retry_at[cid] = time.monotonic() + RETRY_AFTER
                continue
            self._finished.add(cid)
            if item.instance == self.plan.instance:
                self._leftovers = [a for a in self._leftovers or () if a.client_id != cid]
                continue
            with self.beacon.lock:
                layout = self.roster.layout_of(item.instance)
                online = item.instance in self.roster.online()
            if layout is not None and not online:
                self.beacon.rewrite(item.instance, layout.without(cid))

    def stranded(self, now: float) -> int:
        with self.beacon.lock:
            return self.roster.stranded(now) + len(self._leftovers or ())

    def stop(self) -> None:
        self._stopped.set()
        if self.keeper is not None:
            self.keeper.stop()
        if self._beacon_started:
            self.beacon.stop()
