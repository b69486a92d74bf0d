"""paho-mqtt as the driver of the connection state machine: paho's connect calls and callbacks
turned into :class:`~routemq_runtime.transport.connection.Connection`'s attempts and events."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from routemq_runtime.transport.bridge import SocketBridge, guarded
from routemq_runtime.transport.connection import Connection, Subscription
from routemq_runtime.transport.paho_client import session_properties

if TYPE_CHECKING:
    from routemq_runtime.config import Config

log = logging.getLogger("routemq.transport")


class PahoConnection(Connection):
    """Connects and subscribes one paho client; its socket is driven by a :class:`SocketBridge`."""

    def __init__(
        self,
        config: Config,
        client_id: str,
        client: mqtt.Client,
        subscriptions: Sequence[Subscription],
        **options: Any,
    ) -> None:
        super().__init__(config, client_id, subscriptions, **options)
        self.client = client
        self._bridge: SocketBridge | None = None
        self._subscribe_mid: int | None = None
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect

    def start(self, bridge: SocketBridge) -> None:  # type: ignore[override]
        self._bridge = bridge
        super().start(bridge.loop)

    def _open(self, first: bool) -> None:
        config = self.config
        assert self._bridge is not None
        try:
            # A blocking TCP connect (and TLS handshake): nothing else could make progress
            # without the connection anyway, and paho offers no non-blocking connect.
            if not first:
                self.client.reconnect()
            else:
                self.client.connect(
                    config.mqtt_broker,
                    int(config.mqtt_port),
                    keepalive=int(config.mqtt_keepalive),
                    clean_start=False if self.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                    properties=session_properties(config, self.receive_maximum),
                )
        except (OSError, ssl.SSLError) as exc:
            self._bridge.drop_socket()
            self.attempt_failed(exc)
            return
        self._bridge.start_housekeeping()

    def _drop(self) -> None:
        if self._bridge is not None and self._bridge.sock is not None:
            self.client.disconnect()

    def _send_unsubscribe(self, filters: list[str]) -> None:
        self.client.unsubscribe(filters)

    def _send_subscribe(self) -> None:
        if self.v5:
            # Retained messages only for a subscription that is new, not on every reconnect.
            topics: list[tuple[str, Any]] = [
                (s.topic_filter, SubscribeOptions(qos=s.qos, retainHandling=1))
                for s in self.subscriptions
            ]
        else:
            topics = [(s.topic_filter, s.qos) for s in self.subscriptions]
        result, mid = self.client.subscribe(topics)
        if result != mqtt.MQTT_ERR_SUCCESS:
            log.warning("SUBSCRIBE could not be sent: %s", mqtt.error_string(result))
        self._subscribe_mid = mid

    # -- paho callbacks (loop thread) ----------------------------------------------------------

    @guarded
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self.refused(str(reason_code))
        else:
            self.accepted(flags.session_present)

    @guarded
    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if mid == self._subscribe_mid:
            self.subscribe_answered([str(c) if c.is_failure else None for c in reason_codes])

    @guarded
    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._bridge is not None and self._bridge.sock is None:
            self._bridge.closed.set()
        self.lost(str(reason_code))
