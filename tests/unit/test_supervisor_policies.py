"""The supervisor's pure decisions: slot plans, restart backoff and budget, scaling hysteresis."""

from __future__ import annotations

import pytest

from routemq_runtime.routing import Router
from routemq_runtime.supervisor import (
    LoadSample,
    PlanError,
    RestartPolicy,
    RouteScaler,
    ScalingPolicy,
    plan_routes,
)
from routemq_runtime.supervisor.restart import DeathRecord


def handler(payload):
    return payload


def make_router() -> Router:
    router = Router()
    router.on("sensors/{device_id}/data", handler, shared=True, worker_count=3)
    router.on("telemetry/bulk", handler, shared=True, worker_count=5, qos=1)
    router.on("alerts/{device_id}", handler)
    router.on("config/update", handler)
    return router


def test_plan_follows_route_counts_and_puts_non_shared_routes_in_one_slot():
    plans = {p.key: p for p in plan_routes(make_router())}
    assert plans["sensors-device_id-data"].count == 3
    assert plans["telemetry-bulk"].count == 5
    direct = plans["direct"]
    assert direct.patterns == ("alerts/{device_id}", "config/update")
    assert (direct.shared, direct.count, direct.clamp(7)) == (False, 1, 1)


def test_num_workers_is_a_total_shared_out_by_worker_count_and_auto_scale_clamps():
    # num_workers counts processes in total (the page's meaning), not per route.
    plans = plan_routes(make_router(), num_workers=8)
    assert [p.count for p in plans if p.shared] == [3, 5]
    plans = plan_routes(make_router(), num_workers=4)
    assert [p.count for p in plans if p.shared] == [2, 2]
    plans = plan_routes(make_router(), num_workers=1)  # at least one each
    assert [p.count for p in plans if p.shared] == [1, 1]
    plans = plan_routes(make_router(), auto_scale=True, min_count=2, max_count=4)
    shared = {p.key: p for p in plans if p.shared}
    assert shared["telemetry-bulk"].count == 4
    assert (shared["sensors-device_id-data"].minimum, shared["sensors-device_id-data"].maximum) == (
        2,
        4,
    )
    assert shared["telemetry-bulk"].clamp(1) == 2


def test_colliding_keys_get_stable_distinct_names():
    router = Router()
    router.on("a/b-c", handler, shared=True)
    router.on("a-b/c", handler, shared=True)
    router.on("direct", handler, shared=True)
    router.on("x", handler)
    keys = [p.key for p in plan_routes(router)]
    assert keys == ["a-b-c", "a-b-c-2", "direct", "direct-2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_workers": 0}, "number of workers"),
        ({"min_count": 3, "max_count": 2}, r"WORKER_MIN_COUNT \(3\) is greater"),
    ],
)
def test_bad_counts_are_refused_by_name(kwargs, message):
    with pytest.raises(PlanError, match=message):
        plan_routes(make_router(), **kwargs)


def test_an_empty_router_is_refused():
    with pytest.raises(PlanError, match="no routes"):
        plan_routes(Router())


def test_restart_delay_grows_exponentially_with_jitter_and_is_capped():
    policy = RestartPolicy(base_delay=0.1, max_delay=1.0)
    for n, full in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [policy.delay(n) for _ in range(50)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert len(set(delays)) > 1, "jittered"


def test_restart_budget_counts_deaths_within_the_window_only():
    record = DeathRecord(RestartPolicy(budget=2, window=10, stable_after=5))
    record.record(0.0, lived=0.1)
    record.record(1.0, lived=0.1)
    assert record.consecutive == 2 and not record.exhausted
    record.record(20.0, lived=6.0)  # the first two fell out of the window; it ran stably
    assert record.consecutive == 1 and not record.exhausted
    record.record(20.5, lived=0.1)
    record.record(21.0, lived=0.1)
    assert record.exhausted


def test_scaler_goes_up_at_once_to_the_needed_count_and_respects_the_maximum():
    scaler = RouteScaler(ScalingPolicy(target=0.6, high=0.75, cooldown=5))
    assert scaler.decide(0.0, current=2, load=1.4, minimum=1, maximum=10) == 2  # 0.7 each: fine
    assert scaler.decide(1.0, current=2, load=2.4, minimum=1, maximum=10) == 4
    assert scaler.decide(2.0, current=4, load=6.0, minimum=1, maximum=10) == 4  # cooling down
    assert scaler.decide(7.0, current=4, load=6.0, minimum=1, maximum=6) == 6


def test_scaler_goes_down_one_slot_per_keepalive_and_not_below_the_minimum():
    scaler = RouteScaler(ScalingPolicy(keepalive=30, cooldown=5, low=0.5))
    assert scaler.decide(0.0, current=3, load=0.2, minimum=1, maximum=5) == 3
    assert scaler.decide(29.0, current=3, load=0.2, minimum=1, maximum=5) == 3
    assert scaler.decide(30.0, current=3, load=0.2, minimum=1, maximum=5) == 2
    assert scaler.decide(45.0, current=2, load=0.2, minimum=1, maximum=5) == 2
    assert scaler.decide(60.0, current=2, load=0.2, minimum=1, maximum=5) == 1
    assert scaler.decide(200.0, current=1, load=0.0, minimum=1, maximum=5) == 1


def test_scaler_hysteresis_band_and_a_burst_reset_the_keepalive():
    scaler = RouteScaler(ScalingPolicy(keepalive=10, cooldown=0))
    # 3 slots carrying 1.2: removing one leaves 0.6 each, above `low` (0.5): stay.
    assert scaler.decide(0.0, current=3, load=1.2, minimum=1, maximum=5) == 3
    assert scaler.decide(50.0, current=3, load=1.2, minimum=1, maximum=5) == 3
    assert scaler.decide(51.0, current=3, load=0.5, minimum=1, maximum=5) == 3
    assert scaler.decide(55.0, current=3, load=2.5, minimum=1, maximum=5) == 5  # burst
    assert scaler.decide(56.0, current=5, load=0.5, minimum=1, maximum=5) == 5
    assert scaler.decide(65.0, current=5, load=0.5, minimum=1, maximum=5) == 5
    assert scaler.decide(66.0, current=5, load=0.5, minimum=1, maximum=5) == 4


def test_load_is_the_largest_of_cpu_in_flight_and_message_rate():
    sample = LoadSample(seconds=2.0, messages=400, handler_seconds=100.0, cpu_seconds=0.6)
    assert sample.rate == 200
    assert sample.load(concurrency=100) == pytest.approx(0.5)  # 50 in flight of 100
    assert sample.load(concurrency=1000) == pytest.approx(0.3)  # CPU
    assert sample.load(concurrency=1000, messages_per_worker=100) == pytest.approx(2.0)
    assert LoadSample(seconds=0).load(10) == 0.0


def test_scaling_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="thresholds"):
        ScalingPolicy(low=0.7, target=0.6)
