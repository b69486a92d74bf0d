"""MessagePipeline without a broker: ordered acks, stale acks after a reconnect, flow control,
retries and dead letters, with a fake transport."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from routemq_runtime import Config, Router
from routemq_runtime.message import InboundMessage
from routemq_runtime.routing import Dispatcher
from routemq_runtime.testing import MemoryPublisher
from routemq_runtime.worker.pipeline import MessagePipeline
from tests.support.fakes import FakeTransport, RecordingMetrics
from tests.support.polling import until

CONFIG = Config(retry_max_attempts=3, retry_base_delay=0.0, retry_max_delay=0.0)


def make_pipeline(
    router: Router, *, concurrency: int = 10, config: Config = CONFIG
) -> tuple[MessagePipeline, FakeTransport, RecordingMetrics]:
    transport = FakeTransport()
    metrics = RecordingMetrics()
    pipeline = MessagePipeline(
        Dispatcher(router),
        transport,  # type: ignore[arg-type]
        MemoryPublisher(),
        worker_id="w-0",
        config=config,
        concurrency=concurrency,
        metrics=metrics,  # type: ignore[arg-type]
    )
    return pipeline, transport, metrics


def message(n: int, topic: str = "jobs/run", qos: int = 1) -> InboundMessage:
    return InboundMessage(topic, json.dumps({"n": n}).encode(), qos, False, None, n)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())


def submit_gated(pipeline: MessagePipeline, gates: dict[int, asyncio.Event], *ns: int) -> None:
    """Submit messages ``ns``, each held in its handler until its gate is set."""
    for n in ns:
        gates[n] = asyncio.Event()
        pipeline.submit(message(n))


def gated_router() -> tuple[Router, dict[int, asyncio.Event], list[int]]:
    """A route whose handler for message n waits until ``gates[n]`` is set."""
    gates: dict[int, asyncio.Event] = {}
    started: list[int] = []
    router = Router()

    async def handle(payload: dict[str, int]) -> None:
        n = payload["n"]
        started.append(n)
        await gates.setdefault(n, asyncio.Event()).wait()

    router.on("jobs/run", handle, qos=1)
    return router, gates, started


def test_acks_go_out_in_arrival_order_after_out_of_order_completions() -> None:
    async def scenario() -> None:
        router, gates, started = gated_router()
        pipeline, transport, _ = make_pipeline(router)
        submit_gated(pipeline, gates, *range(1, 6))
        await until(lambda: len(started) == 5)
        for n in (5, 4, 3, 2):  # everything but the first finishes
            gates[n].set()
        await until(lambda: pipeline.in_flight == 1)
        assert transport.acks == []  # all wait behind message 1
        gates[1].set()
        await until(lambda: pipeline.settled)
        assert transport.acks == [1, 2, 3, 4, 5]

    run(scenario)


def test_qos0_messages_are_never_acked_and_hold_nobody_back() -> None:
    async def scenario() -> None:
        router, gates, started = gated_router()
        pipeline, transport, _ = make_pipeline(router)
        gates[1] = asyncio.Event()
        pipeline.submit(message(1, qos=0))
        pipeline.submit(message(2))
        await until(lambda: started == [1, 2])
        gates[2].set()
        await until(lambda: transport.acks == [2])
        gates[1].set()
        await until(lambda: pipeline.settled)
        assert transport.acks == [2]

    run(scenario)


def test_a_reconnect_drops_acks_owed_on_the_old_connection() -> None:
    async def scenario() -> None:
        router, gates, started = gated_router()
        pipeline, transport, _ = make_pipeline(router, concurrency=1)
        submit_gated(pipeline, gates, 1, 2, 3)
        await until(lambda: started == [1])
        pipeline.connection_lost()  # the broker redelivers 1, 2 and 3 on the new connection
        gates[1].set()
        await until(lambda: pipeline.settled)
        assert started == [1]  # 2 and 3 were not started: the redelivery brings them
        assert transport.acks == []  # packet id 1 may belong to a new delivery by now
        pipeline.submit(message(11))  # a delivery on the new connection
        gates[11] = asyncio.Event()
        gates[11].set()
        await until(lambda: pipeline.settled)
        assert transport.acks == [11]

    run(scenario)


def test_reading_pauses_at_the_high_water_mark_and_resumes_at_the_low() -> None:
    async def scenario() -> None:
        router, gates, _ = gated_router()
        pipeline, transport, _ = make_pipeline(router, concurrency=1)
        high = pipeline.high_water
        submit_gated(pipeline, gates, *range(1, high))
        assert not transport.reading_paused
        submit_gated(pipeline, gates, high)
        assert transport.reading_paused and transport.pauses == 1
        # Finishing messages one by one: reading resumes once half of them are acked.
        for n in range(1, high + 1):
            gates[n].set()
            await until(lambda n=n: n in transport.acks)
            unfinished = high - n
            if transport.resumes:
                break
        assert transport.resumes == 1 and not transport.reading_paused
        assert unfinished <= high // 2
        assert unfinished > high // 2 - 2  # not long after crossing the low-water mark
        for gate in gates.values():
            gate.set()
        await until(lambda: pipeline.settled)
        assert transport.acks == list(range(1, high + 1))

    run(scenario)


def test_a_failing_handler_is_retried_then_dead_lettered_then_acked() -> None:
    attempts: list[int] = []
    router = Router()

    async def flaky(attempt: int) -> None:
        attempts.append(attempt)
        raise ValueError("sensor offline")

    router.on("jobs/run", flaky, qos=1)

    async def scenario() -> None:
        pipeline, transport, metrics = make_pipeline(router)
        pipeline.submit(message(7))
        await until(lambda: pipeline.settled)
        assert attempts == [1, 2, 3]
        [(topic, body, qos, properties)] = transport.confirmed
        assert (topic, qos) == ("routemq/dlq/jobs/run", 1)
        letter = json.loads(body)
        assert (letter["error"], letter["attempts"]) == ("ValueError: sensor offline", 3)
        assert ("routemq-attempts", "3") in properties
        assert transport.acks == [7]  # only after the dead letter was confirmed
        assert metrics.counts["retried", "jobs/run"] == 2
        assert metrics.counts["dead_lettered", "jobs/run", "handler_error"] == 1
        assert pipeline.dead_lettered == 1 and pipeline.handled == 0

    run(scenario)


def test_a_handler_that_recovers_on_retry_is_acked_without_a_dead_letter() -> None:
    router = Router()

    async def second_time_lucky(attempt: int) -> None:
        if attempt == 1:
            raise TimeoutError("slow backend")

    router.on("jobs/run", second_time_lucky, qos=1)

    async def scenario() -> None:
        pipeline, transport, metrics = make_pipeline(router)
        pipeline.submit(message(3))
        await until(lambda: pipeline.settled)
        assert transport.acks == [3] and transport.confirmed == []
        assert metrics.counts["processed", "jobs/run", "ok"] == 1

    run(scenario)


def test_an_unrouted_message_is_dead_lettered_at_once() -> None:
    router, _, _ = gated_router()

    async def scenario() -> None:
        pipeline, transport, metrics = make_pipeline(router)
        pipeline.submit(message(4, topic="elsewhere/x"))
        await until(lambda: pipeline.settled)
        [(topic, body, _, _)] = transport.confirmed
        assert topic == "routemq/dlq/elsewhere/x"
        assert json.loads(body)["error_type"] == "NoRoute"
        assert transport.acks == [4]
        assert metrics.counts["received", "<unrouted>"] == 1

    run(scenario)


def test_a_dead_letter_that_cannot_be_published_leaves_the_message_unacked() -> None:
    router = Router()

    async def broken() -> None:
        raise RuntimeError("always")

    router.on("jobs/run", broken, qos=1)

    async def scenario() -> None:
        pipeline, transport, _ = make_pipeline(router)
        transport.fail_publishes = True
        pipeline.submit(message(9))
        await until(lambda: bool(transport.resets))
        assert transport.acks == []
        assert transport.resets == ["a message could not be finished"]

    run(scenario)


def test_stop_taking_leaves_unstarted_messages_to_the_broker() -> None:
    async def scenario() -> None:
        router, gates, started = gated_router()
        pipeline, transport, _ = make_pipeline(router, concurrency=1)
        submit_gated(pipeline, gates, 1, 2, 3)
        await until(lambda: started == [1])
        assert pipeline.stop_taking() == 2
        pipeline.submit(message(4))  # refused: not taken, not acked
        gates[1].set()
        assert await pipeline.drain(2.0)
        assert started == [1] and transport.acks == [1]

    run(scenario)


def _handled_lines(caplog: Any, config: Config, level: int) -> list[str]:
    router = Router()
    attempts: list[int] = []

    def handle(payload: dict[str, int], attempt: int) -> None:
        attempts.append(attempt)
        if payload["n"] == 2 and attempt == 1:
            raise RuntimeError("first try fails")

    router.on("jobs/run", handle, qos=1)
    caplog.set_level(level, logger="routemq.worker")

    async def scenario() -> None:
        pipeline, _, _ = make_pipeline(router, config=config)
        pipeline.submit(message(1))
        pipeline.submit(message(2))
        await until(lambda: pipeline.settled)

    run(scenario)
    lines = [r.getMessage() for r in caplog.records]
    return [line for line in lines if line.startswith("Worker w-0 finished processing ")]


def test_a_line_per_handled_message_only_when_asked(caplog: Any) -> None:
    assert _handled_lines(caplog, CONFIG, logging.INFO) == []
    caplog.clear()
    asked = Config(retry_max_attempts=3, retry_base_delay=0.0, log_messages=True)
    lines = _handled_lines(caplog, asked, logging.INFO)
    assert [line.split(" in ")[0] for line in lines] == [
        "Worker w-0 finished processing jobs/run -> <locals>.handle",
        "Worker w-0 finished processing jobs/run -> <locals>.handle",
    ]
    assert lines[1].endswith(" ms (attempt 2)") and lines[0].endswith(" ms")
    caplog.clear()
    # At DEBUG the lines are there without the setting, with a received line per message.
    assert len(_handled_lines(caplog, CONFIG, logging.DEBUG)) == 2
    received = [r.getMessage() for r in caplog.records if " received: " in r.getMessage()]
    assert received == ["Worker w-0 received: jobs/run"] * 2
