"""The worker's pipeline with typed payloads and MQTT 5 request/response: a payload that does not
fit is dead-lettered at once; a handler's return value answers a request that has a Response
Topic, before the request is acked."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from routemq_runtime import Router
from routemq_runtime.message import InboundMessage
from routemq_runtime.testing import TestClient
from tests.support.polling import until
from tests.unit.test_pipeline import make_pipeline, run


@dataclass
class Ping:
    seq: int


@dataclass
class Pong:
    seq: int
    device: str


async def ping(device_id: str, payload: Ping) -> Pong:
    return Pong(payload.seq, device_id)


def ping_router() -> Router:
    router = Router()
    router.on("devices/{device_id}/ping", ping, qos=1)
    return router


def request(body: bytes, mid: int, response_topic: str | None, correlation: bytes | None = None):
    properties = None
    if response_topic is not None:
        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic = response_topic
        if correlation is not None:
            properties.CorrelationData = correlation
    return InboundMessage("devices/42/ping", body, 1, False, properties, mid)


def test_an_invalid_payload_is_dead_lettered_at_once_with_its_field_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        pipeline, transport, metrics = make_pipeline(ping_router())
        pipeline.submit(request(b'{"seq": "one"}', 5, None))
        await until(lambda: pipeline.settled)
        [(topic, body, qos, properties)] = transport.confirmed
        assert (topic, qos) == ("routemq/dlq/devices/42/ping", 1)
        assert ("routemq-error-type", "PayloadValidationError") in properties
        letter = json.loads(body)
        assert letter["attempts"] == 1 and letter["error_type"] == "PayloadValidationError"
        assert letter["validation_errors"] == [
            {"path": "seq", "expected": "integer", "got": "string 'one'"}
        ]
        assert transport.acks == [5]
        assert metrics.counts["dead_lettered", "devices/{device_id}/ping", "invalid_payload"] == 1
        assert ("retried", "devices/{device_id}/ping") not in metrics.counts

    with caplog.at_level(logging.WARNING, "routemq.worker"):
        run(scenario)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "devices/{device_id}/ping" in record.getMessage() and "w-0" in record.getMessage()


class OrderedPublisher:
    """Publishes into the same log the transport's acks go to, so their order can be seen."""

    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def publish(self, topic, payload=None, qos=0, retain=False, properties=None):  # type: ignore[no-untyped-def]
        self.log.append(("publish", topic, payload, qos, properties))


def test_a_reply_goes_to_the_response_topic_with_correlation_data_before_the_ack() -> None:
    async def scenario() -> None:
        pipeline, transport, _ = make_pipeline(ping_router())
        log: list[Any] = []
        pipeline.publisher = OrderedPublisher(log)
        transport.ack = lambda mid, qos: log.append(("ack", mid))  # type: ignore[method-assign]
        pipeline.submit(request(b'{"seq": 1}', 9, "replies/x", b"corr-1"))
        await until(lambda: pipeline.settled)
        (kind, topic, value, qos, properties), ack = log
        assert (kind, topic, value, qos) == ("publish", "replies/x", Pong(1, "42"), 1)
        assert properties.CorrelationData == b"corr-1"
        assert ack == ("ack", 9)

    run(scenario)


def test_no_response_topic_or_a_none_result_sends_nothing(caplog: pytest.LogCaptureFixture) -> None:
    router = ping_router()
    router.on("devices/{device_id}/quiet", lambda: None, qos=1)

    async def scenario() -> None:
        pipeline, transport, _ = make_pipeline(router)
        log: list[Any] = []
        pipeline.publisher = OrderedPublisher(log)
        quiet = InboundMessage("devices/1/quiet", b"", 1, False, request(b"", 0, "r").properties, 1)
        pipeline.submit(quiet)
        pipeline.submit(request(b'{"seq": 2}', 2, None))  # MQTT 3.1.1: no properties at all
        pipeline.submit(request(b'{"seq": 3}', 3, None))
        await until(lambda: pipeline.settled)
        assert log == [] and transport.acks == [1, 2, 3]

    with caplog.at_level(logging.DEBUG, "routemq.worker"):
        run(scenario)
    [note] = [r for r in caplog.records if "3.1.1" in r.getMessage()]  # said once
    assert note.levelno == logging.DEBUG


def test_the_test_client_exposes_the_reply() -> None:
    client = TestClient(ping_router())
    outcome = client.publish(
        "devices/7/ping", {"seq": 4}, qos=1, response_topic="replies/7", correlation_data=b"c"
    )
    assert outcome.ok, outcome.error
    assert outcome.reply.topic == "replies/7"
    assert outcome.reply.payload == {"seq": 4, "device": "7"}
    assert outcome.reply.properties == {"CorrelationData": b"c"}
    assert client.published == [outcome.reply]
    assert client.publish("devices/7/ping", {"seq": 5}).reply is None  # nobody asked


def test_replies_encode_models_bytes_and_text() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Answer(pydantic.BaseModel):
        ok: bool

    router = Router()
    for name, value in (("model", Answer(ok=True)), ("bytes", b"\x01"), ("text", "fine")):
        router.on(f"ask/{name}", lambda value=value: value)
    client = TestClient(router)
    raws = [
        client.publish(f"ask/{n}", response_topic="r").reply.raw for n in ("model", "bytes", "text")
    ]
    assert raws == [b'{"ok":true}', b"\x01", b"fine"]
