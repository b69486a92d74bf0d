"""The comparison harness's pure parts: workload shapes, result parsing, summaries, the report.

No broker, no installs: the measuring itself is exercised by running ``bench/compare.py --quick``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


sys.path.insert(0, str(ROOT / "bench" / "peers"))
workload = _load("workload", ROOT / "bench" / "peers" / "workload.py")
compare = _load("bench_compare", ROOT / "bench" / "compare.py")


def test_route_table_has_the_hot_route_in_the_middle_and_valid_filters() -> None:
    patterns = workload.route_patterns(1000)
    assert len(patterns) == len(set(patterns)) == 1000
    assert patterns.index(workload.HOT_PATTERN) == 499
    assert workload.route_patterns(1) == [workload.HOT_PATTERN]
    assert workload.subscription_filter(workload.HOT_PATTERN) == workload.HOT_FILTER
    assert workload.subscription_filter("fleet/3/{zone}/{device_id}") == "fleet/3/+/+"


def test_every_route_pattern_is_accepted_by_our_router() -> None:
    from routemq_runtime import Router

    router = Router()
    for pattern in workload.route_patterns(1000):
        router.on(pattern, lambda payload: None)
    match = router.match("sensors/dev-001/data")
    assert match is not None and match.route.pattern == workload.HOT_PATTERN


def test_tally_stops_counting_at_the_limit() -> None:
    tally = workload.Tally(3)
    assert [tally.tick() for _ in range(5)] == [False, False, True, False, False]
    assert tally.count == 3
    assert tally.first <= tally.last


def test_result_line_round_trips(capsys: pytest.CaptureFixture[str]) -> None:
    tally = workload.Tally(1)
    tally.tick()
    workload.report(tally, routemq="1.0")
    out = "some log line\n" + capsys.readouterr().out
    result = workload.parse_result(out)
    assert result is not None
    assert result["count"] == 1 and result["routemq"] == "1.0"
    assert result["rss_kib"] > 0 and result["uss_kib"] > 0
    assert workload.parse_result("no result here\n") is None


def _job(workers: int = 2, limit: int = 10):
    return compare.Job(compare.SYSTEMS["routemq"], compare.SCENARIOS["cpu2"], 0, limit)


def _result(count: int, first: float, last: float, **extra: object) -> dict:
    base = {"count": count, "first": first, "last": last, "cpu_s": 0.5}
    base.update(rss_kib=20480, uss_kib=10240, hwm_kib=30720, pss_kib=15360)
    base.update(extra)
    return base


def test_combine_spans_all_workers_and_refuses_short_or_failed_runs() -> None:
    job = _job()
    combined = compare.combine(job, [_result(10, 1.0, 2.0), _result(10, 1.5, 3.0)])
    assert combined["messages"] == 20
    assert combined["rate"] == pytest.approx(20 / 2.0)
    assert combined["rss_mib"] == [20.0, 20.0]
    with pytest.raises(compare.PeerFailed, match="handled 15 of 20"):
        compare.combine(job, [_result(10, 1.0, 2.0), _result(5, 1.0, 2.0)])
    with pytest.raises(compare.PeerFailed, match="broker.start"):
        compare.combine(job, [_result(0, 0, 0, error="broker.start() failed"), _result(10, 1, 2)])


def test_summary_ratios_and_goals() -> None:
    def runs(*rates: float) -> list[dict]:
        return [
            {
                "rate": r,
                "cpu_us_per_msg": 20.0,
                "rss_mib": [24.0],
                "uss_mib": [12.0],
                "hwm_mib": [25.0],
                "messages": 1000,
            }
            for r in rates
        ]

    raw = {
        "qos1": {
            "paho": runs(50_000, 40_000, 60_000),
            "routemq": runs(45_000),
            "original": runs(4_000),
            "faststream": [{"error": "boom"}],
        },
        "io": {"routemq": runs(19_000)},
        "routes1000": {"routemq": runs(44_000)},
        "cpu1": {"routemq": runs(5_000)},
        "cpu2": {"routemq": runs(9_000)},
    }
    summary = compare.summarize_all(raw)
    assert summary["qos1"]["paho"]["rate"]["median"] == 50_000
    assert summary["qos1"]["paho"]["rate"]["spread_pct"] == pytest.approx(40.0)
    assert summary["qos1"]["routemq"]["x_paho"] == pytest.approx(0.9)
    assert summary["qos1"]["faststream"] == {"error": "boom"}
    verdicts = {g.name: g for g in compare.goals(summary)}
    assert verdicts["one worker vs bare paho (QoS 1)"].met is True
    original = verdicts["one worker vs the original RouteMQ (QoS 1)"]
    assert original.measured == pytest.approx(11.25) and original.met
    io = verdicts["I/O-bound one worker (1 ms await)"]
    assert io.met is False and io.gap() == "missed by 5%"
    assert verdicts["2 workers vs 1 (CPU-bound handler)"].measured == pytest.approx(1.8)
    assert verdicts["RSS per worker"].met is True


def test_profile_summary_groups_self_time() -> None:
    collapsed = "\n".join(
        [
            "main (x.py:1);_sock_recv (/v/paho/mqtt/client.py:700) 6",
            "main (x.py:1);raw_decode (/py/json/decoder.py:353) 3",
            "main (x.py:1);dispatch (/r/routemq_runtime/routing/dispatch.py:9) 1",
            "garbage line",
        ]
    )
    profile = compare.summarize_profile(collapsed)
    assert profile["samples"] == 10
    assert profile["areas"][0] == ["paho-mqtt (packets, acks)", 60.0]
    assert ["json decoding", 30.0] in profile["areas"]
    assert profile["functions"][0] == ["_sock_recv (mqtt/client.py)", 60.0]
    assert compare.summarize_profile("") == {"samples": 0}


def test_new_app_table_is_parsed() -> None:
    out = (
        "command                   median s    min s    max s  vs copier\n"
        "copier copy                  0.800    0.700    0.900      1.00x\n"
        "routemq new --no-git         0.880    0.800    0.950      1.10x\n"
    )
    parsed = compare.parse_new_app(out)
    assert parsed is not None
    assert [r["case"] for r in parsed["results"]] == ["copier copy", "routemq new --no-git"]
    assert parsed["results"][1]["median_ms"] == pytest.approx(880.0)
    assert compare.parse_new_app("nothing") is None


def test_markdown_report_renders_from_a_results_file() -> None:
    summary = compare.summarize_all(
        {
            "qos1": {
                "paho": [
                    {
                        "rate": 10.0,
                        "cpu_us_per_msg": 1.0,
                        "rss_mib": [1.0],
                        "uss_mib": [1.0],
                        "hwm_mib": [1.0],
                        "messages": 5,
                    }
                ]
            }
        }
    )
    data = {
        "date": "2026-01-01T00:00:00+00:00",
        "quick": True,
        "runs": 1,
        "messages": 5,
        "machine": {
            "cores": 2,
            "cpu": "x",
            "system": "Linux",
            "python": "3.11",
            "mosquitto": "2.0",
        },
        "load": {"before": 0.1, "during_median": 0.2, "after": 0.3},
        "versions": {"project": {"packages": {"paho-mqtt": "2.2"}, "note": ""}},
        "summary": summary,
        "goals": [g.as_dict() for g in compare.goals(summary)],
        "skipped": {},
        "cli": None,
        "extras": {},
        "plots": ["/x/img/comparison-throughput.png"],
    }
    json.dumps(data)  # the results file is plain JSON
    text = compare.render_markdown(data)
    assert "| bare paho | 10 |" in text
    assert "not measured" in text
    assert "![comparison-throughput](img/comparison-throughput.png)" in text
