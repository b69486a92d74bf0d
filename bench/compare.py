"""RouteMQ side by side with the original RouteMQ, FastStream (MQTT) and a bare paho loop.

One command, one broker, one run: it starts its own mosquitto on loopback, installs each peer into
its own virtual environment (cached under ``~/.cache/routemq-bench/venvs``, reused while its
requirements are unchanged), runs the same workloads on every system, and writes
``docs/results/comparison.json``, ``docs/comparison.md`` and ``docs/img/*.png``.

    python bench/compare.py            # full: 3 runs, 100k-message backlogs, CLI timings (~10 min)
    python bench/compare.py --quick    # 1 run, small backlogs, short CLI timings (< 2 min)

How a consumer is measured: its persistent session is created and left offline, one QoS 1
publisher queues the backlog into every system's session at once, then the system's workers are
started together and drain their own copy. The rate is messages handled divided by the time from
the first to the last message handled (over all workers of the run), so the publisher is never the
bottleneck and start-up is not counted. Slower systems drain only the first part of their copy:
enough for a few seconds of steady work.

QoS 0: a subscription made at QoS 0 receives the QoS 1 publications downgraded to QoS 0. mosquitto
keeps QoS 0 messages for an offline session only with ``queue_qos0_messages true``, which this
broker sets, so the QoS 0 case drains a queued backlog exactly like the QoS 1 case, without any
acknowledgement traffic from the consumer.

Numbers from a shared machine are noisy: compare the ratios, which are measured side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEERS = BENCH / "peers"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(PEERS))

from workload import HOT_FILTER, parse_result  # noqa: E402

CACHE = Path(os.environ.get("ROUTEMQ_BENCH_CACHE", Path.home() / ".cache" / "routemq-bench"))
ORIGINAL_VERSION = "0.25.0"
FASTSTREAM_VERSION = "0.7.8"
MIB = 1024


# -- systems ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class System:
    key: str
    label: str
    peer: str
    venv: str | None  # None: this project's own interpreter
    protocol: str = "3.1.1"
    # Fraction of a scenario's backlog this system drains: enough for a few seconds of work.
    share: float = 1.0


SYSTEMS = {
    s.key: s
    for s in (
        System("paho", "bare paho", "paho_bare.py", "paho"),
        System("routemq", "RouteMQ", "routemq_worker.py", None),
        System("routemq5", "RouteMQ (MQTT 5)", "routemq_worker.py", None, protocol="5"),
        System("original", "original RouteMQ", "routemq_original.py", "original", share=0.2),
        System("faststream", "FastStream", "faststream_mqtt.py", "faststream", share=0.1),
    )
}
BASELINE = "paho"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    qos: int
    handler: str
    workers: int
    routes: int
    systems: tuple[str, ...]
    weight: float = 1.0  # backlog size relative to --messages


ALL = ("paho", "routemq", "original", "faststream")
ROUTED = ("routemq", "original", "faststream")
SCENARIOS = {
    s.key: s
    for s in (
        Scenario(
            "qos1", "QoS 1, 1 worker", 1, "plain", 1, 1, ("paho", "routemq", "routemq5", *ALL[2:])
        ),
        Scenario("qos0", "QoS 0, 1 worker", 0, "plain", 1, 1, ALL),
        Scenario("io", "I/O-bound (1 ms await), QoS 1, 1 worker", 1, "io", 1, 1, ROUTED),
        Scenario("routes1000", "1,000 routes, QoS 1, 1 worker", 1, "plain", 1, 1000, ROUTED),
        Scenario("cpu1", "CPU-bound handler, QoS 1, 1 worker", 1, "cpu", 1, 1, ALL, 0.3),
        Scenario("cpu2", "CPU-bound handler, QoS 1, 2 workers", 1, "cpu", 2, 1, ALL, 0.3),
    )
}
IO_CONCURRENCY = 500
CONCURRENCY = 100


# -- output -----------------------------------------------------------------------------------

_T0 = time.monotonic()


def progress(text: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {text}", flush=True)


# -- peer environments ------------------------------------------------------------------------


@dataclass
class Environment:
    name: str
    python: str
    packages: dict[str, str] = field(default_factory=dict)
    note: str = ""


def _pip(python: str, *args: str, log: Path) -> subprocess.CompletedProcess[str]:
    cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(cmd)}\n{result.stdout}{result.stderr}\n")
    return result


def _freeze(python: str) -> dict[str, str]:
    out = subprocess.run(
        [python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        return {}
    return {row["name"].lower(): row["version"] for row in json.loads(out.stdout)}


def venv_for(
    name: str, requirements: list[str], pip_flags: list[str], check: str | None = None
) -> tuple[Environment | None, str]:
    """A cached venv holding ``requirements``; (None, error) when it cannot be built or fails
    ``check`` (a Python snippet run in it)."""
    folder = CACHE / "venvs" / name
    python = str(folder / "bin" / "python")
    wanted = json.dumps(
        {"requirements": requirements, "flags": pip_flags, "python": sys.version}, sort_keys=True
    )
    stamp = folder / "routemq-bench.json"
    log = folder.parent / f"{name}.log"
    if not (stamp.exists() and stamp.read_text() == wanted and Path(python).exists()):
        progress(f"installing {' '.join(requirements)} into {folder}")
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        result = _pip(python, "--quiet", *pip_flags, *requirements, log=log)
        if result.returncode != 0:
            return None, _last_error(result.stderr) or f"pip failed (see {log})"
        stamp.write_text(wanted)
    if check:
        ran = subprocess.run([python, "-c", check], capture_output=True, text=True, cwd=CACHE)
        if ran.returncode != 0:
            return None, _last_error(ran.stderr)
    return Environment(name, python, _freeze(python)), ""


def _last_error(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if not line.startswith("WARNING")]
    return lines[-1] if lines else ""


def prepare_environments(systems: set[str], plots: bool) -> dict[str, Environment | None]:
    import paho.mqtt

    envs: dict[str, Environment | None] = {}
    envs["project"] = Environment(
        "project",
        sys.executable,
        {"paho-mqtt": paho.mqtt.__version__, "routemq-runtime": _our_version()},
        "this repository, editable install",
    )
    if "paho" in systems:
        # The same paho as ours: the baseline differs from RouteMQ only by what RouteMQ adds.
        envs["paho"], _ = venv_for("paho", [f"paho-mqtt=={paho.mqtt.__version__}"], [])
    if "original" in systems:
        envs["original"] = original_environment()
    if "faststream" in systems:
        env, error = venv_for(
            "faststream",
            [f"faststream[mqtt]=={FASTSTREAM_VERSION}"],
            [],
            check="import faststream.mqtt",
        )
        if env is None:
            progress(f"FastStream cannot be measured: {error}")
        envs["faststream"] = env
    if plots:
        envs["plots"], error = venv_for("plots", ["matplotlib"], [], check="import matplotlib")
        if envs["plots"] is None:
            progress(f"no plots: matplotlib could not be installed: {error}")
    return envs


def original_environment() -> Environment | None:
    """The original RouteMQ at the wanted version, else the newest release that runs here."""
    check = "import routemq.worker_manager, routemq.router"
    # Releases after 0.22 declare Requires-Python >= 3.12 but run on 3.11 as far as this
    # benchmark uses them; greenlet is what their SQLAlchemy asyncio import needs at import time.
    env, error = venv_for(
        "original",
        [f"routemq=={ORIGINAL_VERSION}", "greenlet"],
        ["--ignore-requires-python"],
        check=check,
    )
    if env is not None:
        env.note = (
            f"routemq {ORIGINAL_VERSION} declares Requires-Python >= 3.12; installed on Python "
            f"{platform.python_version()} with --ignore-requires-python (plus greenlet, which its "
            "SQLAlchemy asyncio import needs) and checked to import and run"
        )
        return env
    progress(f"routemq {ORIGINAL_VERSION} does not run here ({error}); trying the newest that does")
    fallback, error2 = venv_for("original-fallback", ["routemq", "greenlet"], [], check=check)
    if fallback is None:
        progress(f"the original RouteMQ cannot be measured: {error2}")
        return None
    fallback.note = (
        f"routemq {ORIGINAL_VERSION} failed on Python {platform.python_version()} ({error}); "
        f"measured {fallback.packages.get('routemq')}, the newest release that supports it"
    )
    return fallback


def _our_version() -> str:
    from routemq_runtime import __version__

    return __version__


# -- broker, sessions, backlog -----------------------------------------------------------------


def start_broker() -> Any:
    from tests.support.mosquitto import Mosquitto

    return Mosquitto(max_inflight=1000, extra_config="queue_qos0_messages true").start()


def mosquitto_version() -> str:
    from tests.support.mosquitto import find_mosquitto

    out = subprocess.run([find_mosquitto(), "-h"], capture_output=True, text=True)
    match = re.search(r"mosquitto version (\S+)", out.stdout + out.stderr)
    return match.group(1) if match else "unknown"


def prime_session(broker: Any, client_id: str, topic_filter: str, qos: int, protocol: str) -> None:
    """Create an offline persistent session subscribed to ``topic_filter`` at ``qos``."""
    import paho.mqtt.client as mqtt

    v5 = protocol == "5"
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else False,
    )
    subscribed: list[bool] = []
    client.on_subscribe = lambda *args: subscribed.append(True)
    if v5:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        client.connect(broker.host, broker.port, clean_start=True, properties=props)
    else:
        client.connect(broker.host, broker.port)
    client.subscribe(topic_filter, qos)
    deadline = time.monotonic() + 10
    while not subscribed and time.monotonic() < deadline:
        client.loop(0.05)
    if not subscribed:
        raise RuntimeError(f"broker did not confirm the subscription of {client_id}")
    client.disconnect()
    client.loop(0.05)


def publish(broker: Any, count: int) -> float:
    """Queue ``count`` QoS 1 messages (``sensors/{id}/data``, ~100-byte JSON); returns msg/s."""
    import paho.mqtt.client as mqtt
    from throughput import payload_for

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked = [0]

    def on_publish(*args: Any) -> None:
        acked[0] += 1

    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    payloads = [payload_for(i) for i in range(100)]
    started = time.perf_counter()
    for i in range(count):
        client.publish(f"sensors/dev-{i % 100:03d}/data", payloads[i % 100], qos=1)
    deadline = time.monotonic() + 300
    while acked[0] < count and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    if acked[0] < count:
        raise RuntimeError(f"the broker acknowledged {acked[0]} of {count} publications")
    return count / elapsed


def forget_sessions(broker: Any, client_ids: list[str]) -> None:
    from throughput import forget_session

    for client_id in client_ids:
        forget_session(broker, client_id)


# -- running peers ----------------------------------------------------------------------------


@dataclass
class Job:
    system: System
    scenario: Scenario
    run: int
    limit: int  # messages per worker

    @property
    def group(self) -> str:
        return f"{self.system.key}-{self.scenario.key}-r{self.run}"

    def client_ids(self) -> list[str]:
        return [f"{self.group}-w{i}" for i in range(self.scenario.workers)]


def peer_command(env: Environment, job: Job, client_id: str, port: int) -> list[str]:
    scenario = job.scenario
    return [
        env.python,
        str(PEERS / job.system.peer),
        f"--port={port}",
        f"--client-id={client_id}",
        f"--group={job.group}",
        f"--qos={scenario.qos}",
        f"--limit={job.limit}",
        f"--handler={scenario.handler}",
        f"--routes={scenario.routes}",
        f"--concurrency={IO_CONCURRENCY if scenario.handler == 'io' else CONCURRENCY}",
        f"--protocol={job.system.protocol}",
    ]


def _read_line(proc: subprocess.Popen[str], deadline: float) -> str | None:
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            return proc.stdout.readline()
        if proc.poll() is not None:
            return None
    return None


def run_job(env: Environment, job: Job, port: int, logs: Path) -> dict[str, Any]:
    """Start the job's workers, let them go together, and combine their results."""
    procs = []
    log_files = []
    peer_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if env.name == "project":
        peer_env["PYTHONPATH"] = str(ROOT)
    with contextlib.ExitStack() as stack:
        for client_id in job.client_ids():
            log = stack.enter_context((logs / f"{client_id}.log").open("w"))
            log_files.append(logs / f"{client_id}.log")
            proc = subprocess.Popen(
                peer_command(env, job, client_id, port),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=logs,
                env=peer_env,
            )
            stack.callback(_kill, proc)
            procs.append(proc)
        deadline = time.monotonic() + 120
        for proc in procs:
            while True:
                line = _read_line(proc, deadline)
                if line is None:
                    raise PeerFailed(job, _tail(log_files[procs.index(proc)]))
                if line.strip() == "READY":
                    break
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc, log_file in zip(procs, log_files, strict=True):
            try:
                stdout, _ = proc.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                raise PeerFailed(job, "no result within 300 s") from None
            result = parse_result(stdout)
            if result is None:
                raise PeerFailed(job, _tail(log_file) or stdout[-500:])
            results.append(result)
    return combine(job, results)


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _tail(path: Path, lines: int = 5) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text().strip().splitlines()[-lines:])
    return ""


class PeerFailed(RuntimeError):
    def __init__(self, job: Job, detail: str) -> None:
        super().__init__(f"{job.system.label} in {job.scenario.key} run {job.run + 1}: {detail}")


def combine(job: Job, results: list[dict[str, Any]]) -> dict[str, Any]:
    total = sum(int(r["count"]) for r in results)
    expected = job.limit * len(results)
    if total < expected:
        raise PeerFailed(job, f"handled {total} of {expected} messages (backlog ran dry)")
    seconds = max(r["last"] for r in results) - min(r["first"] for r in results)
    return {
        "rate": total / seconds if seconds > 0 else float("nan"),
        "messages": total,
        "seconds": seconds,
        "cpu_us_per_msg": sum(r["cpu_s"] for r in results) / total * 1e6,
        "rss_mib": [r["rss_kib"] / MIB for r in results],
        "uss_mib": [r["uss_kib"] / MIB for r in results],
        "hwm_mib": [r["hwm_kib"] / MIB for r in results],
        "versions": {
            k: v for k, v in results[0].items() if k in ("routemq", "faststream", "zmqtt", "paho")
        },
    }


# -- the benchmark ----------------------------------------------------------------------------


def run_benchmark(args: argparse.Namespace, envs: dict[str, Environment | None]) -> dict[str, Any]:
    scenarios = [SCENARIOS[k] for k in args.scenarios]
    wanted = set(args.systems)
    broker = start_broker()
    skipped: dict[str, str] = {}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {s.key: {} for s in scenarios}
    publish_rates: dict[str, list[float]] = {s.key: [] for s in scenarios}
    load: list[float] = []
    logs = Path(tempfile.mkdtemp(prefix="routemq-compare-"))
    try:
        for run in range(args.runs):
            for scenario in scenarios:
                systems = [SYSTEMS[k] for k in scenario.systems if k in wanted]
                runnable = []
                for system in systems:
                    env = envs.get(system.venv or "project")
                    if env is None:
                        skipped[system.key] = f"{system.label}: environment unavailable"
                        continue
                    runnable.append((system, env))
                backlog = int(args.messages * scenario.weight)
                jobs = []
                for system, env in runnable:
                    # Every worker of a shared group gets an equal round-robin part of the backlog.
                    per_worker = max(100, int(backlog * system.share) // scenario.workers)
                    jobs.append((Job(system, scenario, run, per_worker), env))
                filt = f"$share/{{group}}/{HOT_FILTER}"
                for job, _ in jobs:
                    for client_id in job.client_ids():
                        prime_session(
                            broker,
                            client_id,
                            filt.format(group=job.group),
                            scenario.qos,
                            job.system.protocol,
                        )
                rate = publish(broker, backlog)
                publish_rates[scenario.key].append(rate)
                progress(
                    f"run {run + 1}/{args.runs} {scenario.key}: {backlog:,} messages queued for "
                    f"{len(jobs)} systems at {rate:,.0f} msg/s"
                )
                # Rotate the order so no system always drains first.
                order = jobs[run % len(jobs) :] + jobs[: run % len(jobs)] if jobs else []
                for job, env in order:
                    load.append(os.getloadavg()[0])
                    try:
                        res = run_job(env, job, broker.port, logs)
                    except PeerFailed as error:
                        progress(f"  FAILED {error}")
                        res = {"error": str(error)}
                    results[scenario.key].setdefault(job.system.key, []).append(res)
                    if "rate" in res:
                        progress(
                            f"  {job.system.label:<18} {res['rate']:>9,.0f} msg/s  "
                            f"{res['messages']:>7,} msgs  RSS {max(res['rss_mib']):.1f} MiB  "
                            f"USS {max(res['uss_mib']):.1f} MiB  "
                            f"{res['cpu_us_per_msg']:.0f} us CPU/msg"
                        )
                forget_sessions(broker, [cid for job, _ in jobs for cid in job.client_ids()])
    finally:
        broker.cleanup()
        if not args.keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
        else:
            progress(f"peer logs kept in {logs}")
    return {
        "raw": results,
        "publish_rates": publish_rates,
        "load_during": load,
        "skipped": skipped,
    }


# -- summary ----------------------------------------------------------------------------------


def summarize(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    med = statistics.median(values)
    return {
        "median": med,
        "min": values[0],
        "max": values[-1],
        "spread_pct": (values[-1] - values[0]) / med * 100 if med else 0.0,
        "runs": len(values),
    }


def summarize_all(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for scenario, by_system in raw.items():
        rows = {}
        for system, runs in by_system.items():
            good = [r for r in runs if "rate" in r]
            if not good:
                rows[system] = {"error": runs[0].get("error", "no result")}
                continue
            rows[system] = {
                "rate": summarize([r["rate"] for r in good]),
                "cpu_us_per_msg": statistics.median(r["cpu_us_per_msg"] for r in good),
                "rss_mib": statistics.median(max(r["rss_mib"]) for r in good),
                "uss_mib": statistics.median(max(r["uss_mib"]) for r in good),
                "hwm_mib": statistics.median(max(r["hwm_mib"]) for r in good),
                "messages": good[0]["messages"],
                "failed_runs": len(runs) - len(good),
            }
        base = rows.get(BASELINE, {}).get("rate", {}).get("median")
        for row in rows.values():
            if "rate" in row and base:
                row["x_paho"] = row["rate"]["median"] / base
        out[scenario] = rows
    return out


def _median(summary: dict[str, Any], scenario: str, system: str) -> float | None:
    row = summary.get(scenario, {}).get(system, {})
    return row.get("rate", {}).get("median")


@dataclass
class Goal:
    name: str
    target: float
    measured: float | None
    unit: str
    higher_is_better: bool = True
    detail: str = ""

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        if self.higher_is_better:
            return self.measured >= self.target
        return self.measured <= self.target

    def gap(self) -> str:
        if self.measured is None:
            return "not measured"
        if self.met:
            return "met"
        short = (
            1 - self.measured / self.target
            if self.higher_is_better
            else self.measured / self.target - 1
        )
        return f"missed by {short * 100:.0f}%"

    def as_dict(self) -> dict[str, Any]:
        return {
            "goal": self.name,
            "target": self.target,
            "measured": self.measured,
            "unit": self.unit,
            "met": self.met,
            "gap": self.gap(),
            "detail": self.detail,
        }


def goals(summary: dict[str, Any]) -> list[Goal]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    ours_q1 = _median(summary, "qos1", "routemq")
    rss = summary.get("qos1", {}).get("routemq", {}).get("rss_mib")
    uss = summary.get("qos1", {}).get("routemq", {}).get("uss_mib")
    return [
        Goal(
            "one worker vs bare paho (QoS 1)",
            0.8,
            ratio(ours_q1, _median(summary, "qos1", "paho")),
            "x",
        ),
        Goal(
            "one worker vs the original RouteMQ (QoS 1)",
            10.0,
            ratio(ours_q1, _median(summary, "qos1", "original")),
            "x",
        ),
        Goal(
            "I/O-bound one worker (1 ms await)", 20_000, _median(summary, "io", "routemq"), "msg/s"
        ),
        Goal(
            "1,000 routes vs 1 route",
            0.9,
            ratio(_median(summary, "routes1000", "routemq"), ours_q1),
            "x",
        ),
        Goal(
            "2 workers vs 1 (CPU-bound handler)",
            1.7,
            ratio(_median(summary, "cpu2", "routemq"), _median(summary, "cpu1", "routemq")),
            "x",
        ),
        Goal(
            "RSS per worker",
            25.0,
            rss,
            "MiB",
            higher_is_better=False,
            detail=f"USS {uss:.1f} MiB" if uss else "",
        ),
    ]


# -- CLI timings (reusing bench/cli_startup.py and bench/new_app.py) ----------------------------


def cli_timings(quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    runs = 3 if quick else 15
    progress(f"CLI start-up: bench/cli_startup.py --runs {runs}")
    started = subprocess.run(
        [sys.executable, str(BENCH / "cli_startup.py"), "--json", "--runs", str(runs)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    try:
        out["startup"] = json.loads(started.stdout)
    except json.JSONDecodeError:
        out["startup"] = {"error": _last_error(started.stderr) or started.stdout[-300:]}
    rounds = 1 if quick else 5
    progress(f"routemq new vs copier copy: bench/new_app.py --rounds {rounds}")
    new = subprocess.run(
        [sys.executable, str(BENCH / "new_app.py"), "--rounds", str(rounds)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    out["new"] = parse_new_app(new.stdout) or {"error": _last_error(new.stderr) or "no table"}
    return out


_NEW_ROW = re.compile(
    r"^(?P<name>copier copy \+ git|copier copy|routemq new --no-git|routemq new)\s+"
    r"(?P<median>[\d.]+)\s+(?P<min>[\d.]+)\s+(?P<max>[\d.]+)\s+(?P<ratio>[\d.]+)x$"
)


def parse_new_app(stdout: str) -> dict[str, Any] | None:
    rows = []
    for line in stdout.splitlines():
        match = _NEW_ROW.match(line.strip())
        if match:
            rows.append(
                {
                    "case": match["name"],
                    "median_ms": float(match["median"]) * 1000,
                    "min_ms": float(match["min"]) * 1000,
                    "max_ms": float(match["max"]) * 1000,
                    "ratio": float(match["ratio"]),
                }
            )
    return {"results": rows} if rows else None


# -- report -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "mosquitto": mosquitto_version(),
    }


def versions(envs: dict[str, Environment | None]) -> dict[str, Any]:
    keep = {
        "project": ("routemq-runtime", "paho-mqtt"),
        "paho": ("paho-mqtt",),
        "original": ("routemq", "paho-mqtt", "sqlalchemy", "greenlet"),
        "faststream": ("faststream", "zmqtt", "fast-depends", "pydantic", "anyio"),
        "plots": ("matplotlib",),
    }
    out = {}
    for name, env in envs.items():
        if env is None:
            out[name] = {"error": "unavailable"}
            continue
        pkgs = {k: env.packages[k] for k in keep.get(name, ()) if k in env.packages}
        out[name] = {"packages": pkgs, "note": env.note}
    return out


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def render_markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        "# RouteMQ side by side",
        "",
        "Generated by `python bench/compare.py"
        + (" --quick" if data["quick"] else "")
        + "`; do not edit by hand. How it measures: see the docstring of `bench/compare.py`.",
        "",
        f"- date: {data['date']}",
        f"- machine: {m['cores']} cores ({m['cpu']}), {m['system']}; Python {m['python']}, "
        f"mosquitto {m['mosquitto']} on loopback",
        f"- load average (1 min): {data['load']['before']:.2f} before, "
        f"{data['load']['during_median']:.2f} median while consumers ran, "
        f"{data['load']['after']:.2f} after"
        + (" (other work was running: expect noise)" if data["load"]["during_median"] > 1 else ""),
        f"- runs per case: {data['runs']}; backlog: {data['messages']:,} messages of ~100-byte "
        "JSON on `sensors/{id}/data` (CPU-bound cases: 30%); the original RouteMQ drains 20% of "
        "each backlog and FastStream 10%, enough for seconds of steady work at their pace",
    ]
    for name, info in data["versions"].items():
        if "packages" in info:
            pkgs = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
            note = f" — {info['note']}" if info["note"] else ""
            lines.append(f"- {name}: {pkgs}{note}")
        else:
            lines.append(f"- {name}: unavailable")
    lines += [
        "",
        "## Goals",
        "",
        "| goal | target | measured | verdict |",
        "|---|---:|---:|---|",
    ]
    for g in data["goals"]:
        unit = g["unit"]
        measured = "—" if g["measured"] is None else _fmt_goal(g["measured"], unit)
        comparison = ">=" if g["goal"] != "RSS per worker" else "<="
        detail = f" ({g['detail']})" if g["detail"] else ""
        lines.append(
            f"| {g['goal']} | {comparison} {_fmt_goal(g['target'], unit)} | {measured}{detail} "
            f"| {g['gap']} |"
        )
    summary = data["summary"]
    for key, scenario in SCENARIOS.items():
        if key not in summary:
            continue
        lines += [
            "",
            f"## {scenario.title}",
            "",
            "| system | median msg/s | min-max | spread | vs bare paho | CPU µs/msg | RSS MiB "
            "| USS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for system in scenario.systems:
            row = summary[key].get(system)
            label = SYSTEMS[system].label
            if row is None:
                continue
            if "error" in row:
                lines.append(f"| {label} | failed: {row['error']} | | | | | | |")
                continue
            r = row["rate"]
            x = f"{row['x_paho']:.2f}x" if "x_paho" in row else "—"
            lines.append(
                f"| {label} | {fmt_rate(r['median'])} "
                f"| {fmt_rate(r['min'])} to {fmt_rate(r['max'])} "
                f"| {r['spread_pct']:.0f}% | {x} | {row['cpu_us_per_msg']:.0f} "
                f"| {row['rss_mib']:.1f} | {row['uss_mib']:.1f} |"
            )
    lines += _ratio_section(summary)
    lines += _cli_section(data.get("cli"))
    if data["skipped"]:
        lines += ["", "## Not measured", ""]
        lines += [f"- {reason}" for reason in data["skipped"].values()]
    if data.get("plots"):
        lines += ["", "## Plots", ""]
        lines += [f"![{Path(p).stem}](img/{Path(p).name})" for p in data["plots"]]
    lines += _notes()
    return "\n".join(lines) + "\n"


def _fmt_goal(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "msg/s":
        return f"{value:,.0f} msg/s"
    return f"{value:.1f} {unit}"


def _ratio_section(summary: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Scaling, per system",
        "",
        "| system | 1,000 routes / 1 route | 2 workers / 1 (CPU-bound) | QoS 0 / QoS 1 |",
        "|---|---:|---:|---:|",
    ]
    for system in ("paho", "routemq", "original", "faststream"):

        def ratio(a: str, b: str, system: str = system) -> str:
            x, y = _median(summary, a, system), _median(summary, b, system)
            return f"{x / y:.2f}x" if x and y else "—"

        lines.append(
            f"| {SYSTEMS[system].label} | {ratio('routes1000', 'qos1')} | {ratio('cpu2', 'cpu1')} "
            f"| {ratio('qos0', 'qos1')} |"
        )
    return lines


def _cli_section(cli: dict[str, Any] | None) -> list[str]:
    if not cli:
        return []
    lines = ["", "## Command line", ""]
    startup = cli.get("startup", {})
    if "results" in startup:
        lines += [
            f"Fresh processes, {startup.get('runs')} interleaved runs each "
            "(`bench/cli_startup.py`); goal: `make:controller` <= 1.5x `import typer`.",
            "",
            "| command | median ms | fastest ms | vs `import typer` |",
            "|---|---:|---:|---:|",
        ]
        for row in startup["results"]:
            lines.append(
                f"| `{row['case']}` | {row['median_ms']:.0f} | {row['min_ms']:.0f} "
                f"| {row['ratio']:.2f}x |"
            )
    elif startup:
        lines.append(f"start-up timings failed: {startup.get('error')}")
    new = cli.get("new", {})
    if "results" in new:
        lines += [
            "",
            "`routemq new` against a bare `copier copy` of the same template "
            "(`bench/new_app.py`); goal: <= 1.2x.",
            "",
            "| command | median ms | fastest ms | vs `copier copy` |",
            "|---|---:|---:|---:|",
        ]
        for row in new["results"]:
            lines.append(
                f"| `{row['case']}` | {row['median_ms']:.0f} | {row['min_ms']:.0f} "
                f"| {row['ratio']:.2f}x |"
            )
    elif new:
        lines.append(f"`routemq new` timings failed: {new.get('error')}")
    return lines


def _notes() -> list[str]:
    return [
        "",
        "## How each system runs",
        "",
        "- **bare paho**: `bench/peers/paho_bare.py`; MQTT 3.1.1, `loop_forever`, `json.loads` "
        "per message, paho's automatic acknowledgement. No routing: not run with 1,000 routes "
        "or an awaiting handler.",
        "- **RouteMQ**: `bench/peers/routemq_worker.py`; one slot exactly as the supervisor runs "
        "it (`run_slot`), MQTT 3.1.1 unless marked MQTT 5; route match, JSON payload injection, "
        f"async handler, acknowledgement after success; {CONCURRENCY} handlers in flight "
        f"({IO_CONCURRENCY} for the I/O-bound case).",
        "- **original RouteMQ**: `bench/peers/routemq_original.py`; its `WorkerProcess.run()` "
        "(paho network thread + dispatch loop thread + `Router.dispatch`), with a fixed client "
        "id and a persistent session instead of its random id and clean session, so it can "
        "resume the queued backlog.",
        "- **FastStream**: `bench/peers/faststream_mqtt.py`; `MQTTBroker` (zmqtt) with a "
        "`@broker.subscriber` per route on the shared group, a `{device_id}` path parameter and "
        "a `dict` body; acknowledgement after the handler (its default); per-message log lines "
        f"moved to DEBUG; `max_workers={IO_CONCURRENCY}` for the I/O-bound case.",
        "- Every worker is its own process, started by the harness; memory is read from "
        "`/proc/<pid>/status` (RSS) and `/proc/<pid>/smaps_rollup` (USS = private pages) "
        "when the worker has drained its share. 1,000 routes: the hot route is the 500th; the "
        "others share its prefixes and depth and receive nothing.",
    ]


# -- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 run, small backlogs (< 2 min)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=100_000, help="backlog per scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI timings")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--keep-logs", action="store_true", help="keep each worker's log")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where docs/ lives")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 1
        args.messages = min(args.messages, 20_000)
    args.scenarios = _choices(args.scenarios, SCENARIOS, "scenario")
    args.systems = _choices(args.systems, SYSTEMS, "system")

    load_before = os.getloadavg()[0]
    progress(f"{os.cpu_count()} cores, load average {load_before:.2f}; preparing environments")
    venvs_needed = {SYSTEMS[s].venv or "project" for s in args.systems}
    envs = prepare_environments(venvs_needed, plots=not args.no_plots)
    bench = run_benchmark(args, envs)
    cli = None if args.no_cli else cli_timings(args.quick)
    summary = summarize_all(bench["raw"])
    data: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick,
        "runs": args.runs,
        "messages": args.messages,
        "machine": machine(),
        "load": {
            "before": load_before,
            "during_median": statistics.median(bench["load_during"] or [load_before]),
            "after": os.getloadavg()[0],
        },
        "versions": versions(envs),
        "summary": summary,
        "goals": [g.as_dict() for g in goals(summary)],
        "publish_rates": bench["publish_rates"],
        "skipped": bench["skipped"],
        "cli": cli,
        "raw": bench["raw"],
        "plots": [],
    }
    results_dir = args.out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / "comparison.json"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    plots_env = envs.get("plots")
    if plots_env is not None:
        data["plots"] = draw_plots(plots_env, json_path, args.out / "img")
        json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path = args.out / "comparison.md"
    md_path.write_text(render_markdown(data))
    progress(
        f"wrote {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}"
    )
    progress(f"wrote {md_path}")
    for g in data["goals"]:
        measured = "—" if g["measured"] is None else _fmt_goal(g["measured"], g["unit"])
        print(f"  {g['goal']:<45} {measured:>14}  {g['gap']}")
    return 0


def draw_plots(env: Environment, json_path: Path, img_dir: Path) -> list[str]:
    img_dir.mkdir(parents=True, exist_ok=True)
    progress("drawing plots")
    out = subprocess.run(
        [env.python, str(PEERS / "plots.py"), str(json_path), str(img_dir)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        progress(f"plots failed: {_last_error(out.stderr)}")
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().endswith(".png")]


def _choices(text: str, known: dict[str, Any], what: str) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in known]
    if unknown:
        raise SystemExit(f"unknown {what}(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return chosen


if __name__ == "__main__":
    raise SystemExit(main())
