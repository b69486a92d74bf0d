"""The latency and many-workers measurements' pure parts: pacing, packets, percentiles, reports.

No broker: the measuring itself is exercised by ``bench/compare.py --quick``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "peers"))

from tests.bench.test_compare_smoke import _load  # noqa: E402

latency = _load("latency", ROOT / "bench" / "peers" / "latency.py")
fleet = _load("fleet", ROOT / "bench" / "peers" / "fleet.py")
workload = _load("workload", ROOT / "bench" / "peers" / "workload.py")
compare = _load("bench_compare", ROOT / "bench" / "compare.py")


def test_pacing_keeps_the_rate_without_bursting_ahead() -> None:
    rate = 1000.0
    assert latency.due(rate, -0.1, 0) == 0
    assert latency.due(rate, 0.0, 0) == 1  # message 0 goes at once
    assert latency.due(rate, 0.0, 1) == 0
    assert latency.due(rate, 0.0105, 1) == 10  # messages 1..10 were due by 10.5 ms
    sent = 0
    for tick in range(1, 1001):  # 1 ms ticks for one second
        sent += latency.due(rate, tick / 1000, sent)
    assert sent == 1001  # 0 .. 1000 inclusive
    assert latency.due(rate, 0.5, 2000) == 0  # never negative when ahead


def test_payload_is_json_with_its_stamp_and_about_100_bytes() -> None:
    body = latency.payload(7, 12345.678901, 42)
    reading = json.loads(body)
    assert reading["device_id"] == "dev-007" and reading["seq"] == 42
    assert reading["t"] == pytest.approx(12345.678901)
    assert "w" not in reading
    assert json.loads(latency.payload(7, 1.0, 1, warmup=True))["w"] == 1
    assert 80 <= len(body) <= 110


def test_publish_packet_is_a_valid_qos1_publish() -> None:
    assert latency.remaining_length(0) == b"\x00"
    assert latency.remaining_length(127) == b"\x7f"
    assert latency.remaining_length(128) == b"\x80\x01"
    assert latency.remaining_length(16_383) == b"\xff\x7f"
    assert latency.remaining_length(16_384) == b"\x80\x80\x01"
    packet = latency.publish_packet(b"a/b", 258, b"xyz")
    assert packet == b"\x32\x0a\x00\x03a/b\x01\x02xyz"
    connect = latency.connect_packet("pub")
    assert connect[0] == 0x10 and connect[1] == len(connect) - 2
    assert connect.endswith(b"\x00\x03pub")


def test_quantiles_are_nearest_rank() -> None:
    values = list(range(1, 101))
    assert latency.quantile(values, 0.5) == 50
    assert latency.quantile(values, 0.99) == 99
    assert latency.quantile(values, 0.999) == 100
    assert latency.quantile([5.0], 0.5) == 5.0
    with pytest.raises(ValueError):
        latency.quantile([], 0.5)


def test_summary_in_ms_and_unhandled_messages_make_lower_bounds() -> None:
    seconds = [i / 1000 for i in range(1, 1001)]  # 1 .. 1000 ms
    full = latency.summarize(seconds, 1000)
    assert full["p50"] == pytest.approx(500)
    assert full["p99"] == pytest.approx(990)
    assert full["p99.9"] == pytest.approx(999)
    assert full["max"] == pytest.approx(1000)
    # 2% were never handled: p99 and beyond are only known to exceed the slowest handled one.
    short = latency.summarize(seconds[:980], 1000)
    assert short["p50"] == pytest.approx(500)
    assert short["p99"] == {"over": pytest.approx(980)}
    assert short["max"] == {"over": pytest.approx(980)}
    assert latency.summarize([], 10)["error"]
    assert latency.fmt_ms(short["p99"]) == "> 980"
    assert latency.fmt_ms(1.234) == "1.23" and latency.fmt_ms(12.34) == "12.3"
    assert latency.value_ms({"over": 5.0}) == 5.0 and latency.value_ms(None) is None


def test_runs_combine_to_the_median_run_per_quantile() -> None:
    def run(p99: float | dict, rate: float) -> dict:
        return {
            "p50": 1.0,
            "p99": p99,
            "p99.9": 3.0,
            "max": 4.0,
            "mean": 1.5,
            "rate": rate,
            "target_rate": 100.0,
            "cpu_s": 1.0,
            "sent": 100,
            "handled": 100,
            "cdf": [[float(rate), 1.0]],
        }

    combined = latency.combine_runs([run(9.0, 1), run({"over": 50.0}, 2), run(2.0, 3)])
    assert combined["p99"] == 9.0
    assert combined["p99_range"] == [2.0, 50.0]
    assert combined["cdf"] == [[1.0, 1.0]]  # from the run with the median p99
    assert combined["sent"] == 300 and combined["runs"] == 3
    failed = latency.combine_runs([{"error": "boom"}])
    assert failed["error"] == "boom"


def test_cdf_is_thinned_monotonic_and_ends_at_one() -> None:
    points = latency.cdf_points([i / 1e6 for i in range(100_000)], points=200)
    assert len(points) <= 201
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    assert xs == sorted(xs) and ys == sorted(ys)
    assert ys[-1] == 1.0
    assert any(y > 0.999 for y in ys[:-1])  # the tail keeps points
    assert latency.cdf_points([]) == []


def test_latency_records_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "w0.lat"
    latency.write_latencies(path, [0.001, 0.002])
    assert latency.read_latencies(path) == [0.001, 0.002]


def test_tally_records_only_measured_messages_and_stops_at_the_deadline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tally = workload.Tally(10**9, latency_out="x", deadline=0.05)
    assert tally.idle_for() == 0.0  # waits for the first message, however long
    import time

    assert tally.stamp({"t": time.monotonic(), "w": 1}) is False
    tally.tick()
    assert capsys.readouterr().out == "FIRST\n"
    assert tally.latencies == []
    assert tally.stamp({"t": time.monotonic() - 0.002}) is False
    assert tally.latencies[0] >= 0.002
    time.sleep(0.06)
    assert tally.stamp({"t": time.monotonic()}) is True  # past the deadline: stop once
    assert tally.stamp({"t": time.monotonic()}) is False


def test_proc_readers_on_this_process() -> None:
    import os

    assert fleet.pss_kib(os.getpid()) > 0
    assert fleet.cpu_ticks(os.getpid()) >= 0
    assert fleet.pss_kib(2**22 + 12345) == 0  # no such process
    assert fleet.core_percent(fleet.TICKS, 10.0) == pytest.approx(10.0)


def test_subscribe_lines_are_counted_after_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "mosquitto.log"
    log.write_text(
        "1: old-client 1 $share/pod/fleet/r0/+/data\n"
        "2: New client connected from 127.0.0.1 as w0\n"
        "2: w0 1 $share/pod/fleet/r0/+/data\n"
        "2: w1 1 $share/pod/fleet/r1/+/data\n"
        "2: w2 1 $share/other/fleet/r1/+/data\n"
    )
    offset = len("1: old-client 1 $share/pod/fleet/r0/+/data\n")
    assert fleet.count_subscribes(log, offset, "$share/pod/") == 2
    assert fleet.count_subscribes(tmp_path / "missing.log", 0, "$share/pod/") == 0


def test_pss_per_extra_worker() -> None:
    big = {"processes": 32, "pss_total_mib": 280.0}
    small = {"processes": 1, "pss_total_mib": 32.0}
    assert fleet.per_extra_worker(big, small) == pytest.approx(8.0)
    assert fleet.per_extra_worker({"error": "x", "processes": 32}, small) is None


def test_router_template_renders_the_layout() -> None:
    source = fleet.ROUTER.format(routes=8, workers=4)
    namespace: dict = {}
    exec(compile(source, "fleet.py", "exec"), namespace)
    routes = namespace["router"].routes
    assert len(routes) == 8
    assert routes[3].pattern == "fleet/r3/{device_id}/data"


def _latency_extras() -> dict:
    def row(p99: float | dict, handled: int = 100) -> dict:
        return {
            "p50": 1.0,
            "p99": p99,
            "p99.9": 5.0,
            "max": 6.0,
            "mean": 1.2,
            "rate": 500.0,
            "target_rate": 500.0,
            "cpu_s": 1.0,
            "sent": 100,
            "handled": handled,
            "runs": 1,
            "p99_range": [2.0, 2.0],
            "cdf": [[1.0, 1.0]],
        }

    return {
        "latency": {
            "date": "2026-12-02T06:00:00+00:00",
            "load_before": 0.2,
            "load_during_median": 1.1,
            "capacity": 1000.0,
            "capacity_messages": 20_000,
            "seconds": 5.0,
            "deadline": 8.0,
            "runs": 1,
            "fractions": [0.5],
            "cases": {
                "paho": {"0.5": row(2.0)},
                "routemq": {"0.5": row(2.8)},
                "routemq-2w": {"0.5": row(2.4)},
                "faststream": {"0.5": row({"over": 4000.0}, 40)},
                "original": {"0.5": {"error": "did not start"}},
            },
        },
        "fleet": {
            "routes": 8,
            "workers": 4,
            "idle_seconds": 10.0,
            "date": "2026-12-02T06:00:00+00:00",
            "load_before": 0.2,
            "routemq": {
                "1x1": {
                    "processes": 1,
                    "workers_found": 1,
                    "subscribed_s": 0.2,
                    "ready_s": 1.1,
                    "pss_total_mib": 30.0,
                    "pss_supervisor_mib": 15.0,
                    "supervisor_cpu_pct": 0.1,
                    "workers_cpu_pct": 0.1,
                },
                "8x4": {
                    "processes": 32,
                    "workers_found": 32,
                    "subscribed_s": 1.5,
                    "ready_s": 2.5,
                    "pss_total_mib": 247.0,
                    "pss_supervisor_mib": 12.0,
                    "supervisor_cpu_pct": 0.4,
                    "workers_cpu_pct": 1.0,
                },
                "pss_per_extra_worker_mib": 7.0,
            },
            "original": {"8x4": {"error": "exited with 1: boom"}, "1x1": {"error": "x"}},
        },
    }


def test_latency_and_fleet_goals_and_report() -> None:
    extras = _latency_extras()
    verdicts = {g.name: g for g in compare.goals({}, extras)}
    p99 = verdicts["p99 latency at 50% load vs bare paho"]
    assert p99.measured == pytest.approx(1.4) and p99.met
    assert "RouteMQ, 2 workers 1.20x" in p99.detail
    assert "FastStream 2000.00x" in p99.detail
    assert verdicts["32 workers ready (/readyz)"].met
    assert verdicts["PSS per extra forked worker"].measured == 7.0
    idle = verdicts["idle supervisor CPU"]
    assert idle.met and idle.as_dict()["higher_is_better"] is False
    text = "\n".join(
        compare._latency_section(extras["latency"]) + compare._fleet_section(extras["fleet"])
    )
    assert "| RouteMQ | 500 | 100.0% | 1.00 | 2.80 | 5.00 | 6.00 | 1.40x |" in text
    assert "| FastStream | 500 | 40.0% | 1.00 | > 4,000 |" in text and "> 2000.00x" in text
    assert "| original RouteMQ | failed: did not start |" in text
    assert "| RouteMQ | 8x4 | 32 | 1.50 | 2.50 | 247.0 | 12.0 | 7.00 | 0.40 | 1.00 |" in text
    assert "| original RouteMQ | 8x4 | failed: exited with 1: boom |" in text
    assert compare.latency_label("routemq5") == "RouteMQ (MQTT 5)"
