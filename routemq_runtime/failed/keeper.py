"""The keeper: takes what the app's durable dead-letter session holds and stores it.

It runs in the supervisor (both modes) as one thread with its own paho client, connected as the
dead-letter session (``{app}-dead-letters``, subscribed to ``{ROUTEMQ_DLQ_PREFIX}/#``). A dead
letter is acknowledged only after the store committed it: when the store cannot be written,
the keeper disconnects without acknowledging and tries again later, and the broker keeps the
messages meanwhile. A dead letter delivered twice (a crash between commit and ack) is stored
once.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from routemq_runtime.failed.record import from_dead_letter
from routemq_runtime.failed.store import FailedStore, StoreError, open_store, store_path
from routemq_runtime.transport.backoff import backoff_delay
from routemq_runtime.transport.durable import connect_held
from routemq_runtime.transport.paho_client import new_client

if TYPE_CHECKING:
    from routemq_runtime.config import Config

log = logging.getLogger("routemq.failed")

#: Dead letters in flight to the keeper at once (MQTT 5 receive maximum).
IN_FLIGHT = 20
#: Seconds to stay away after another copy of the app took the session over (several hosts).
TAKEN_OVER_PAUSE = 30.0


class DeadLetterKeeper:
    def __init__(self, config: Config, client_id: str, path: Path) -> None:
        self.config = config
        self.client_id = client_id
        self.path = path
        self.stored = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: FailedStore | None = None
        self._trouble: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="routemq-failed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            pause = None
            try:
                pause = self._session()
                attempt = 0
            except StoreError as error:
                self._report(str(error))
            except (OSError, TimeoutError, ConnectionRefusedError) as error:
                self._report(f"dead-letter session {self.client_id!r}: {error}")
            except Exception:  # a bug must not stop keeping failures for good
                log.exception("keeping dead letters failed")
            attempt += 1
            self._stop.wait(pause or backoff_delay(attempt, 1.0, 30.0))
        if self._store is not None:
            self._store.close()

    def _report(self, text: str) -> None:
        # One line per kind of trouble, not one per retry.
        if text != self._trouble:
            log.error("failed messages are not being stored: %s", text)
            self._trouble = text

    def _session(self) -> float | None:
        """One connection: store what arrives until stopped, the store fails or the broker goes.
        Returns how long to wait before the next one (None: the usual backoff)."""
        if self._store is None:
            self._store = open_store(self.path)
        config = self.config
        client = new_client(config, self.client_id, clean_session=False, manual_ack=True)
        state: dict[str, Any] = {}
        client.on_connect = lambda *args: self._on_connect(client, state, args[3])
        client.on_message = lambda _c, _u, message: self._on_message(client, state, message)
        client.on_disconnect = lambda *args: state.setdefault("gone", str(args[3]))
        connect_held(client, config, receive_maximum=IN_FLIGHT, keepalive=30)
        try:
            while not self._stop.is_set() and "gone" not in state and "error" not in state:
                client.loop(0.2)
        finally:
            if client.is_connected():
                client.disconnect()
                client.loop(0.05)
        if "error" in state:
            raise StoreError(state["error"])
        gone = state.get("gone", "")
        if "taken over" in gone.lower():
            log.info("dead-letter session taken over by another copy of the app; pausing")
            return TAKEN_OVER_PAUSE
        if gone and not self._stop.is_set():
            raise ConnectionError(f"disconnected: {gone}")
        return None

    def _on_connect(self, client: mqtt.Client, state: dict[str, Any], reason: Any) -> None:
        if reason.is_failure:
            state["gone"] = f"refused: {reason}"
            return
        # Subscribing again is harmless, and makes the session when the hold could not.
        client.subscribe(f"{self.config.dlq_prefix.rstrip('/')}/#", qos=1)
        if self._trouble:
            log.info("storing failed messages again (%s)", self.path)
            self._trouble = None

    def _on_message(self, client: mqtt.Client, state: dict[str, Any], message: Any) -> None:
        if "error" in state or self._store is None:
            return  # not acknowledged: the broker sends it again on the next connection
        record = from_dead_letter(message.topic, message.payload, self.config.dlq_prefix)
        try:
            stored = self._store.add(record)
        except Exception as error:  # never into paho's callback; the message stays unacked
            state["error"] = str(error)
            return
        if stored is not None:
            self.stored += 1
            log.info(
                "failed message %d stored: %s (%s: %s)",
                stored,
                record.topic,
                record.error_type,
                record.error[:200],
            )
        client.ack(message.mid, message.qos)


def start_keeper(config: Config, client_id: str | None) -> DeadLetterKeeper | None:
    """Start keeping the app's dead letters when it keeps a session and a store for them."""
    path = store_path(config)
    if client_id is None or path is None:
        return None
    keeper = DeadLetterKeeper(config, client_id, path)
    keeper.start()
    return keeper
