"""RouteMQ side by side with the original RouteMQ, FastStream (MQTT) and a bare paho loop.

One command, one broker, one run: it starts its own mosquitto on loopback, installs each peer into
its own virtual environment (cached under ``~/.cache/routemq-bench/venvs``, reused while its
requirements are unchanged), runs the same workloads on every system, and writes
``docs/results/comparison.json``, ``docs/comparison.md`` and ``docs/img/*.png``.

    python bench/compare.py            # full: 3 runs, 100k-message backlogs, CLI timings,
                                       # latency at 3 rates x 3 runs, the 32-worker pod (~20 min)
    python bench/compare.py --quick    # 1 run, small backlogs, short CLI timings, latency at
                                       # one rate (< 2 min)
    python bench/compare.py --only latency,fleet   # only those, merged into the last results

How a consumer is measured: its persistent session is created and left offline, one QoS 1
publisher queues the backlog into every system's session at once, then the system's workers are
started together and drain their own copy. The rate is messages handled divided by the time from
the first to the last message handled (over all workers of the run), so the publisher is never the
bottleneck and start-up is not counted. Slower systems drain only the first part of their copy:
enough for a few seconds of steady work.

RouteMQ's slot runs in the QoS 1 case with each MQTT client (``MQTT_TRANSPORT=native``, the
default, and ``paho``) on MQTT 3.1.1 and MQTT 5, and with the default client where ``import
orjson`` fails; its table names the client class each row ran.

QoS 0: a subscription made at QoS 0 receives the QoS 1 publications downgraded to QoS 0. mosquitto
keeps QoS 0 messages for an offline session only with ``queue_qos0_messages true``, which this
broker sets, so the QoS 0 case drains a queued backlog exactly like the QoS 1 case, without any
acknowledgement traffic from the consumer.

Latency (``bench/peers/live.py``, ``latency.py``): bare paho's capacity is measured first, as
above; then one paced QoS 1 publisher sends a live stream at 25%, 50% and 75% of it, each message
stamped with its send time, and every system's handler records publish → handler start. The
systems that cannot keep up are stopped a few seconds after the stream; what they left unhandled
counts as slower than everything they handled.

Many workers (``bench/peers/fleet.py``): a pod of 8 shared routes x 4 workers started as its user
starts it, timed to ready, its PSS summed over the process tree and its idle CPU sampled.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEERS = BENCH / "peers"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(PEERS))

from latency import combine_runs, fmt_ms, value_ms  # noqa: E402
from workload import HOT_FILTER, parse_result  # noqa: E402

CACHE = Path(os.environ.get("ROUTEMQ_BENCH_CACHE", Path.home() / ".cache" / "routemq-bench"))
ORIGINAL_VERSION = "0.25.0"
FASTSTREAM_VERSION = "0.7.8"
MIB = 1024
OUTSTANDING = 20_000  # publications queued in paho at most
HOT_TOPIC = "sensors/dev-{device:03d}/data"


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
    args: tuple[str, ...] = ()  # more arguments for its peer


PAHO = ("--transport=paho",)
SYSTEMS = {
    s.key: s
    for s in (
        System("paho", "bare paho", "paho_bare.py", "paho"),
        System("routemq", "RouteMQ", "routemq_worker.py", None),
        System("routemq5", "RouteMQ (MQTT 5)", "routemq_worker.py", None, protocol="5"),
        # The slot's other MQTT client, and the default one without orjson. A key holds no "-":
        # latency cases name their worker count after one.
        System("routemq_paho", "RouteMQ on paho", "routemq_worker.py", None, args=PAHO),
        System(
            "routemq5_paho", "RouteMQ on paho (MQTT 5)", "routemq_worker.py", None, "5", args=PAHO
        ),
        System(
            "routemq_no_orjson",
            "RouteMQ without orjson",
            "routemq_worker.py",
            None,
            args=("--no-orjson",),
        ),
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
# Next to RouteMQ in the QoS 1 case: MQTT 5, the paho transport on both protocols, no orjson.
SLOT_VARIANTS = ("routemq_paho", "routemq5", "routemq5_paho", "routemq_no_orjson")
ROUTED = ("routemq", "original", "faststream")
SCENARIOS = {
    s.key: s
    for s in (
        Scenario("qos1", "QoS 1, 1 worker", 1, "plain", 1, 1, (*ALL[:2], *SLOT_VARIANTS, *ALL[2:])),
        Scenario("qos0", "QoS 0, 1 worker", 0, "plain", 1, 1, ALL),
        Scenario("io", "I/O-bound (1 ms await), QoS 1, 1 worker", 1, "io", 1, 1, ROUTED),
        Scenario("routes1000", "1,000 routes, QoS 1, 1 worker", 1, "plain", 1, 1000, ROUTED),
        Scenario("cpu1", "CPU-bound handler, QoS 1, 1 worker", 1, "cpu", 1, 1, ALL, 0.3),
        Scenario("cpu2", "CPU-bound handler, QoS 1, 2 workers", 1, "cpu", 2, 1, ALL, 0.3),
    )
}
IO_CONCURRENCY = 500
CONCURRENCY = 100
# A worker whose backlog dries up gives up after this long (a broken run); shorter with --quick.
PEER_IDLE = [20.0]

# Latency: (system, workers) measured at each fraction of bare paho's capacity in this run.
LATENCY_CASES = (
    ("paho", 1),
    ("routemq", 1),
    ("routemq5", 1),
    ("routemq", 2),
    ("original", 1),
    ("faststream", 1),
)
LATENCY_FRACTIONS = (0.25, 0.5, 0.75)
LATENCY_IDLE = 1.5  # a worker stops this long after the stream's last message
FLEET_LAYOUT = (8, 4)  # shared routes x workers per route


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


def prepare_environments(
    systems: set[str], plots: bool, tools: bool
) -> dict[str, Environment | None]:
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
    if tools:
        envs["tools"], error = venv_for("tools", ["py-spy"], [], check="")
        if envs["tools"] is None:
            progress(f"no profile: py-spy could not be installed: {error}")
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


def publish(broker: Any, count: int) -> float:
    """Queue ``count`` QoS 1 messages (``sensors/{id}/data``, ~100-byte JSON); returns msg/s."""
    from throughput import publish_backlog

    return publish_backlog(broker, count, HOT_TOPIC, OUTSTANDING, timeout=300)


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
        f"--idle={PEER_IDLE[0]}",
        *job.system.args,
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


def run_job(
    env: Environment,
    job: Job,
    port: int,
    logs: Path,
    attach: Callable[[list[int]], Any] | None = None,
) -> dict[str, Any]:
    """Start the job's workers, let them go together, and combine their results.

    ``attach`` is called with the workers' pids once they are set up, before they connect.
    """
    procs = []
    log_files = []
    peer_env = peer_environment(env)
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
        if attach is not None:
            attach([proc.pid for proc in procs])
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


def peer_environment(env: Environment) -> dict[str, str]:
    peer_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if env.name == "project":
        peer_env["PYTHONPATH"] = str(ROOT)
    return peer_env


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
    errors = [str(r["error"]) for r in results if r.get("error")]
    if errors:
        raise PeerFailed(job, errors[0])
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
        "pss_mib": [r.get("pss_kib", 0) / MIB for r in results],
        "hwm_mib": [r["hwm_kib"] / MIB for r in results],
        "versions": {
            k: v for k, v in results[0].items() if k in ("routemq", "faststream", "zmqtt", "paho")
        },
        # RouteMQ's slot: its client class and whether orjson was loaded, blocked or not loaded.
        "slot": {k: v for k, v in results[0].items() if k in ("transport", "orjson")},
    }


# -- the benchmark ----------------------------------------------------------------------------


def run_benchmark(args: argparse.Namespace, envs: dict[str, Environment | None]) -> dict[str, Any]:
    from throughput import prime_session

    scenarios = [SCENARIOS[k] for k in args.scenarios]
    wanted = set(args.systems)
    broker = start_broker()
    skipped: dict[str, str] = {}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {s.key: {} for s in scenarios}
    publish_rates: dict[str, list[float]] = {s.key: [] for s in scenarios}
    load: list[float] = []
    failed: set[tuple[str, str]] = set()
    logs = Path(tempfile.mkdtemp(prefix="routemq-compare-"))
    extras: dict[str, Any] = {}
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
                    if (scenario.key, system.key) in failed:
                        continue  # a failure is not retried: it reproduces and costs a timeout
                    # Every worker of a shared group gets an equal round-robin part of the backlog.
                    per_worker = max(500, int(backlog * system.share) // scenario.workers)
                    jobs.append((Job(system, scenario, run, per_worker), env))
                filt = f"$share/{{group}}/{HOT_FILTER}"
                for job, _ in jobs:
                    for client_id in job.client_ids():
                        prime_session(
                            broker,
                            client_id,
                            filt.format(group=job.group),
                            job.system.protocol,
                            scenario.qos,
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
                        failed.add((scenario.key, job.system.key))
                    results[scenario.key].setdefault(job.system.key, []).append(res)
                    if "rate" in res:
                        progress(
                            f"  {job.system.label:<24} {res['rate']:>9,.0f} msg/s  "
                            f"{res['messages']:>7,} msgs  RSS {max(res['rss_mib']):.1f} MiB  "
                            f"USS {max(res['uss_mib']):.1f} MiB  "
                            f"{res['cpu_us_per_msg']:.0f} us CPU/msg"
                            + "".join(f"  {v}" for v in res["slot"].values())
                        )
                forget_sessions(broker, [cid for job, _ in jobs for cid in job.client_ids()])
        if not args.no_latency:
            extras["latency"] = run_latency(args, envs, broker, logs)
        ours = envs.get("project")
        if "routemq" in wanted and ours is not None and not args.no_extras:
            progress("memory of a supervised app: 2 forked slots, idle then after a live stream")
            extras["supervised_memory"] = supervised_memory(broker, args.messages // 4)
            tools = envs.get("tools")
            if tools is not None:
                progress("profiling one RouteMQ drain with py-spy")
                try:
                    extras["profile"] = profile_routemq(broker, ours, tools, args.messages, logs)
                except PeerFailed as error:
                    extras["profile"] = {"error": str(error)}
            extras["import_rss"] = import_rss()
        if not args.no_fleet and "routemq" in wanted:
            extras["fleet"] = run_fleet(args, envs, logs)
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
        "extras": extras,
    }


# -- end-to-end latency at fixed rates ---------------------------------------------------------


def latency_case(key: str, workers: int) -> str:
    return key if workers == 1 else f"{key}-{workers}w"


def latency_label(case: str) -> str:
    key, _, workers = case.partition("-")
    label = SYSTEMS[key].label
    return f"{label}, {workers[:-1]} workers" if workers else label


def run_latency(
    args: argparse.Namespace, envs: dict[str, Environment | None], broker: Any, logs: Path
) -> dict[str, Any]:
    """Bare paho's capacity in this run, then every case at fixed fractions of it.

    See ``bench/peers/live.py`` for how one case runs. A case that fails is not run again at
    a higher rate.
    """
    from throughput import prime_session

    load_before = os.getloadavg()[0]
    paho = envs.get("paho")
    if paho is None:
        return {"error": "bare paho is unavailable: no capacity to pace against"}
    # Capacity: bare paho draining a queued QoS 1 backlog, as in the throughput cases.
    count = args.messages
    job = Job(SYSTEMS["paho"], SCENARIOS["qos1"], 90, count)
    prime_session(broker, job.client_ids()[0], f"$share/{job.group}/{HOT_FILTER}", "3.1.1")
    publish(broker, count)
    try:
        capacity = run_job(paho, job, broker.port, logs)["rate"]
    except PeerFailed as error:
        return {"error": f"capacity run failed: {error}"}
    finally:
        forget_sessions(broker, job.client_ids())
    progress(f"latency: bare paho drains {capacity:,.0f} msg/s; pacing at fractions of that")
    seconds = args.latency_seconds
    # A worker that cannot keep up stops this long after its first measured message.
    deadline = seconds + (1.5 if args.quick else 3.0)
    idle = 0.75 if args.quick else LATENCY_IDLE
    wanted = set(args.systems)
    cases = [(k, w) for k, w in LATENCY_CASES if k in wanted]
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {latency_case(k, w): {} for k, w in cases}
    failed: dict[str, str] = {}
    load: list[float] = []
    turn = 0
    for run in range(args.latency_runs):
        for index, fraction in enumerate(args.latency_fractions):
            rate = capacity * fraction
            # Rotate the order so no system always runs first.
            order = cases[turn % len(cases) :] + cases[: turn % len(cases)]
            turn += 1
            for key, workers in order:
                case = latency_case(key, workers)
                runs = raw[case].setdefault(str(fraction), [])
                system = SYSTEMS[key]
                env = envs.get(system.venv or "project")
                if env is None:
                    runs.append({"error": "environment unavailable"})
                    continue
                if case in failed:
                    runs.append({"error": failed[case]})
                    continue
                scenario = Scenario("latency", "latency", 1, "latency", workers, 1, (key,))
                job = Job(system, scenario, run * 100 + index * 10 + workers, 10**9)
                res = _latency_run(job, env, broker, logs, rate, seconds, deadline, idle)
                load.append(os.getloadavg()[0])
                runs.append(res)
                if "error" in res:
                    failed[case] = res["error"]  # not retried: it reproduces and costs a timeout
                    progress(f"  latency {latency_label(case)}: FAILED {res['error']}")
                else:
                    progress(
                        f"  latency {latency_label(case):<26} {fraction:>4.0%} "
                        f"({res['rate']:>7,.0f} msg/s): p50 {fmt_ms(res['p50'])} "
                        f"p99 {fmt_ms(res['p99'])} p99.9 {fmt_ms(res['p99.9'])} "
                        f"max {fmt_ms(res['max'])} ms, handled {res['handled']:,}/{res['sent']:,}"
                    )
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_before": load_before,
        "load_during_median": statistics.median(load) if load else None,
        "capacity": capacity,
        "capacity_messages": count,
        "seconds": seconds,
        "deadline": deadline,
        "runs": args.latency_runs,
        "fractions": list(args.latency_fractions),
        "cases": {
            case: {f: combine_runs(runs) for f, runs in by_rate.items()}
            for case, by_rate in raw.items()
        },
        "raw": {
            case: {
                f: [{k: v for k, v in r.items() if k != "cdf"} for r in runs]
                for f, runs in by_rate.items()
            }
            for case, by_rate in raw.items()
        },
    }


def _latency_run(
    job: Job,
    env: Environment,
    broker: Any,
    logs: Path,
    rate: float,
    seconds: float,
    deadline: float,
    idle: float,
) -> dict[str, Any]:
    from live import LiveFailed, run_live
    from throughput import prime_session

    for client_id in job.client_ids():
        prime_session(broker, client_id, f"$share/{job.group}/{HOT_FILTER}", job.system.protocol)
    commands = {
        cid: [*peer_command(env, job, cid, broker.port), f"--idle={idle}"]
        for cid in job.client_ids()
    }
    try:
        return run_live(
            commands,
            peer_environment(env),
            logs,
            broker.host,
            broker.port,
            HOT_TOPIC,
            rate,
            seconds,
            deadline,
        )
    except (LiveFailed, OSError, RuntimeError) as error:
        return {"error": str(error) or type(error).__name__}
    finally:
        forget_sessions(broker, job.client_ids())


# -- many workers in one pod -------------------------------------------------------------------


def run_fleet(
    args: argparse.Namespace, envs: dict[str, Environment | None], logs: Path
) -> dict[str, Any]:
    """RouteMQ's supervisor and the original's WorkerManager on 8 shared routes x 4 workers,
    and on 1 x 1 for the memory each extra worker adds (see ``bench/peers/fleet.py``)."""
    import fleet

    from tests.support.mosquitto import Mosquitto, free_port

    routes, workers = FLEET_LAYOUT
    idle = 1.0 if args.quick else 10.0
    broker = Mosquitto(extra_config="log_type subscribe").start()
    root = logs / "fleet"
    root.mkdir(exist_ok=True)
    out: dict[str, Any] = {
        "routes": routes,
        "workers": workers,
        "idle_seconds": idle,
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_before": os.getloadavg()[0],
    }
    try:
        for layout in ((1, 1), (routes, workers)):
            name = f"{layout[0]}x{layout[1]}"
            progress(f"pod of {layout[0]} shared route(s) x {layout[1]} worker(s): RouteMQ")
            out.setdefault("routemq", {})[name] = fleet.routemq_pod(
                root,
                sys.executable,
                str(ROOT),
                broker.port,
                broker.log_path,
                free_port(),
                *layout,
                idle_seconds=idle,
                settle=1.0 if args.quick else 2.0,
            )
            original = envs.get("original")
            if "original" in args.systems and original is not None:
                progress(f"pod of {layout[0]} x {layout[1]}: the original RouteMQ")
                out.setdefault("original", {})[name] = fleet.original_pod(
                    root,
                    original.python,
                    PEERS / "original_fleet.py",
                    broker.port,
                    broker.log_path,
                    *layout,
                    idle_seconds=idle,
                    settle=1.0 if args.quick else 2.0,
                )
    finally:
        broker.cleanup()
    big = f"{routes}x{workers}"
    for system in ("routemq", "original"):
        pods = out.get(system)
        if pods:
            pods["pss_per_extra_worker_mib"] = fleet.per_extra_worker(pods[big], pods["1x1"])
    return out


def import_rss() -> list[list[Any]]:
    """RSS of a fresh interpreter after each step of what a worker imports, in MiB."""
    steps = [
        ("python", "pass"),
        ("+ ssl", "import ssl"),
        ("+ asyncio", "import asyncio"),
        ("+ paho-mqtt", "import paho.mqtt.client"),
        ("+ prometheus-client", "import prometheus_client"),
        ("+ routemq_runtime worker", "import routemq_runtime.worker, routemq_runtime.metrics"),
    ]
    rows = []
    code = []
    probe = "import re;print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1])"
    for label, statement in steps:
        code.append(statement)
        out = subprocess.run(
            [sys.executable, "-c", ";".join([*code, probe])],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if out.returncode == 0:
            rows.append([label, round(int(out.stdout.strip()) / MIB, 1)])
    return rows


# -- where the time goes: a py-spy profile of one RouteMQ drain ---------------------------------

PROFILE_AREAS = (
    ("json decoding", ("json/",)),
    ("paho-mqtt (packets, acks)", ("paho/",)),
    ("routing and dispatch", ("routemq_runtime/routing/",)),
    ("worker pipeline (ordering, acks, retries)", ("routemq_runtime/worker/",)),
    ("transport (socket, event loop glue)", ("routemq_runtime/transport/",)),
    ("asyncio event loop", ("asyncio/",)),
    ("selectors and sockets", ("selectors.py", "socket.py", "ssl.py")),
)


def profile_routemq(
    broker: Any, env: Environment, tools: Environment, count: int, logs: Path
) -> dict:
    """Drain one QoS 1 backlog with a RouteMQ slot under py-spy (sampling, non-blocking)."""
    from throughput import prime_session

    job = Job(SYSTEMS["routemq"], SCENARIOS["qos1"], 99, count)
    client_id = job.client_ids()[0]
    prime_session(broker, client_id, f"$share/{job.group}/{HOT_FILTER}", "3.1.1")
    publish(broker, count)
    raw = logs / "profile.txt"
    spy: list[subprocess.Popen[bytes]] = []

    def attach(pids: list[int]) -> None:
        py_spy = str(Path(tools.python).parent / "py-spy")
        cmd = [py_spy, "record", "--nonblocking", "--format", "raw", "--rate", "500"]
        cmd += ["-o", str(raw), "--pid", str(pids[0])]
        spy.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)  # let it attach before the worker connects

    try:
        result = run_job(env, job, broker.port, logs, attach=attach)
    finally:
        for proc in spy:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            _kill(proc)  # type: ignore[arg-type]
        forget_sessions(broker, [client_id])
    profile = summarize_profile(raw.read_text() if raw.exists() else "")
    profile["rate_while_profiled"] = result["rate"]
    return profile


def summarize_profile(collapsed: str) -> dict[str, Any]:
    """Self time per function and per area from py-spy's raw (collapsed stack) output."""
    by_function: dict[str, int] = {}
    by_area: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        leaf = stack.split(";")[-1]
        match = re.match(r"(?P<func>.+?) \((?P<path>[^:()]+)(?::\d+)?\)$", leaf.strip())
        func, path = (match["func"], match["path"]) if match else (leaf, "")
        name = f"{func} ({'/'.join(Path(path).parts[-2:])})" if path else func
        by_function[name] = by_function.get(name, 0) + count
        area = next((a for a, keys in PROFILE_AREAS if any(k in path for k in keys)), "other")
        by_area[area] = by_area.get(area, 0) + count
    if not total:
        return {"samples": 0}

    def top(counts: dict[str, int], n: int) -> list[list[Any]]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
        return [[name, round(c / total * 100, 1)] for name, c in ranked]

    return {"samples": total, "areas": top(by_area, 10), "functions": top(by_function, 12)}


# -- memory under the supervisor ----------------------------------------------------------------

SUPERVISED_ROUTER = """\
from routemq_runtime import Router

router = Router()


async def handle(device_id: str, payload: dict) -> None:
    pass


router.on("sensors/{device_id}/data", handle, qos=1, shared=True, worker_count=2)
"""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found += [int(t) for t in text]
    return found


def supervised_memory(broker: Any, count: int) -> dict[str, Any]:
    """Per-worker memory of a real app run by the supervisor (2 forked slots) after a load."""
    from workload import memory_kib, stop_process

    from tests.support.apps import write_app

    with tempfile.TemporaryDirectory(prefix="routemq-supervised-") as tmp:
        app = write_app(Path(tmp), {"bench": SUPERVISED_ROUTER})
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(
            PYTHONPATH=str(ROOT),
            MQTT_BROKER=broker.host,
            MQTT_PORT=str(broker.port),
            MQTT_GROUP_NAME="supervised",
            ROUTEMQ_APP_NAME="supervised",
            ROUTEMQ_LOG_LEVEL="WARNING",
        )
        cmd = [sys.executable, "-m", "routemq_runtime", "run", "--workers", "--app-dir", tmp]
        with (app / "supervisor.log").open("w") as log:
            proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
            workers = _children(proc.pid)
            if len(workers) < 2:
                return {"error": _tail(app / "supervisor.log") or "the slots did not start"}
            time.sleep(2.0)  # connected and subscribed
            idle = [memory_kib(pid) for pid in workers]
            publish(broker, count)
            time.sleep(2.0)  # the live stream drained
            loaded = [memory_kib(pid) for pid in workers]
            parent = memory_kib(proc.pid)
        finally:
            stop_process(proc)

    def mib(rows: list[dict[str, int]], key: str) -> float:
        return max(r[key] for r in rows) / MIB

    return {
        "workers": len(workers),
        "messages": count,
        "idle": {k: mib(idle, f"{k}_kib") for k in ("rss", "uss", "pss")},
        "loaded": {k: mib(loaded, f"{k}_kib") for k in ("rss", "uss", "pss")},
        "supervisor": {k: parent[f"{k}_kib"] / MIB for k in ("rss", "uss", "pss")},
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
                "slot": good[0].get("slot") or {},
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
            "higher_is_better": self.higher_is_better,
            "gap": self.gap(),
            "detail": self.detail,
        }


def goals(summary: dict[str, Any], extras: dict[str, Any] | None = None) -> list[Goal]:
    """The goals RouteMQ is judged against, each with the numbers that explain a miss."""
    extras = extras or {}

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    def row(scenario: str, system: str) -> dict[str, Any]:
        return summary.get(scenario, {}).get(system, {})

    def cpu(scenario: str, system: str) -> float:
        return row(scenario, system).get("cpu_us_per_msg", 0.0)

    ours, paho, original = (_median(summary, "qos1", k) for k in ("routemq", "paho", "original"))
    cpu1, cpu2 = _median(summary, "cpu1", "routemq"), _median(summary, "cpu2", "routemq")
    paho_scaling = ratio(_median(summary, "cpu2", "paho"), _median(summary, "cpu1", "paho"))
    profile = extras.get("profile", {})
    areas = ", ".join(f"{name} {share:.0f}%" for name, share in profile.get("areas", [])[:5])
    rss = row("qos1", "routemq").get("rss_mib")
    uss = row("qos1", "routemq").get("uss_mib")
    result = [
        Goal(
            "one worker vs bare paho (QoS 1)",
            0.8,
            ratio(ours, paho),
            "x",
            detail=f"CPU per message: RouteMQ {cpu('qos1', 'routemq'):.0f} µs, "
            f"bare paho {cpu('qos1', 'paho'):.0f} µs"
            + (f"; RouteMQ's time by area: {areas}" if areas else ""),
        ),
        Goal(
            "one worker vs the original RouteMQ (QoS 1)",
            10.0,
            ratio(ours, original),
            "x",
            detail=(
                f"the original handles {original:,.0f} msg/s here, so 10x is "
                f"{10 * original:,.0f} msg/s = {10 * original / paho:.2f}x what bare paho "
                f"itself reaches in this run ({paho:,.0f}); the goal assumed the original at "
                "1.5-2.7k msg/s. CPU per message: RouteMQ "
                f"{cpu('qos1', 'routemq'):.0f} µs, original {cpu('qos1', 'original'):.0f} µs"
                if original and paho
                else ""
            ),
        ),
        Goal(
            "I/O-bound one worker (1 ms await)",
            20_000,
            _median(summary, "io", "routemq"),
            "msg/s",
            detail=f"{IO_CONCURRENCY} handlers in flight; CPU per message "
            f"{cpu('io', 'routemq'):.0f} µs",
        ),
        Goal(
            "1,000 routes vs 1 route",
            0.9,
            ratio(_median(summary, "routes1000", "routemq"), ours),
            "x",
            detail=f"CPU per message {cpu('routes1000', 'routemq'):.0f} µs vs "
            f"{cpu('qos1', 'routemq'):.0f} µs with 1 route",
        ),
        Goal(
            "2 workers vs 1 (CPU-bound handler)",
            1.7,
            ratio(cpu2, cpu1),
            "x",
            detail=(
                f"bare paho scales {paho_scaling:.2f}x on the same 2 cores, which also run the "
                "broker"
                if paho_scaling
                else ""
            ),
        ),
        Goal(
            "RSS per worker",
            25.0,
            rss,
            "MiB",
            higher_is_better=False,
            detail=_memory_detail(uss, row("qos1", "paho").get("rss_mib"), extras),
        ),
    ]
    return result + latency_goals(extras) + fleet_goals(extras)


def _at(latency: dict[str, Any], case: str, fraction: float) -> dict[str, Any]:
    return latency.get("cases", {}).get(case, {}).get(str(fraction), {})


def latency_goals(extras: dict[str, Any]) -> list[Goal]:
    latency = extras.get("latency") or {}
    if "cases" not in latency or 0.5 not in latency.get("fractions", []):
        return []
    paho = value_ms(_at(latency, "paho", 0.5).get("p99"))
    ours = value_ms(_at(latency, "routemq", 0.5).get("p99"))
    others = []
    for case in ("routemq5", "routemq-2w", "original", "faststream"):
        p99 = value_ms(_at(latency, case, 0.5).get("p99"))
        if p99 is not None and paho:
            others.append(f"{latency_label(case)} {p99 / paho:.2f}x")
    paired = []
    raw = latency.get("raw", {})
    for ours_run, paho_run in zip(
        raw.get("routemq", {}).get("0.5", []), raw.get("paho", {}).get("0.5", []), strict=False
    ):
        a, b = value_ms(ours_run.get("p99")), value_ms(paho_run.get("p99"))
        if a is not None and b:
            paired.append(f"{a / b:.2f}x")
    detail = (
        (f"run by run (adjacent in time): {', '.join(paired)}; " if len(paired) > 1 else "")
        + f"p99 RouteMQ {fmt_ms(_at(latency, 'routemq', 0.5).get('p99'))} ms, bare paho "
        f"{fmt_ms(_at(latency, 'paho', 0.5).get('p99'))} ms at "
        f"{latency['capacity'] * 0.5:,.0f} msg/s; vs bare paho: " + ", ".join(others)
        if ours is not None and paho
        else ""
    )
    return [
        Goal(
            "p99 latency at 50% load vs bare paho",
            1.5,
            ours / paho if ours is not None and paho else None,
            "x",
            higher_is_better=False,
            detail=detail,
        )
    ]


def fleet_goals(extras: dict[str, Any]) -> list[Goal]:
    fleet = extras.get("fleet") or {}
    pods = fleet.get("routemq") or {}
    big = pods.get(f"{fleet.get('routes')}x{fleet.get('workers')}", {})
    if not big:
        return []
    original = (fleet.get("original") or {}).get(f"{fleet['routes']}x{fleet['workers']}", {})
    n = fleet["routes"] * fleet["workers"]
    orig_ready = original.get("subscribed_s")
    return [
        Goal(
            f"{n} workers ready (/readyz)",
            3.0,
            big.get("ready_s"),
            "s",
            higher_is_better=False,
            detail=f"broker saw all {n} subscriptions after {big.get('subscribed_s', 0):.2f} s"
            + (
                f"; the original's {n} workers had all subscribed after {orig_ready:.2f} s"
                if orig_ready
                else ""
            ),
        ),
        Goal(
            "PSS per extra forked worker",
            8.0,
            pods.get("pss_per_extra_worker_mib"),
            "MiB",
            higher_is_better=False,
            detail=f"{n}-worker pod {big.get('pss_total_mib', 0):.0f} MiB PSS in total"
            + (
                f"; the original {fleet['original']['pss_per_extra_worker_mib']:.1f} MiB per "
                f"extra worker, {original.get('pss_total_mib', 0):.0f} MiB in total"
                if (fleet.get("original") or {}).get("pss_per_extra_worker_mib")
                else ""
            ),
        ),
        Goal(
            "idle supervisor CPU",
            1.0,
            big.get("supervisor_cpu_pct"),
            "% of a core",
            higher_is_better=False,
            detail=f"over {big.get('idle_seconds', 0):.0f} s with {n} idle workers; the workers "
            f"together {big.get('workers_cpu_pct', 0):.1f}%"
            + (
                f"; the original's manager {original['supervisor_cpu_pct']:.1f}%, its workers "
                f"{original['workers_cpu_pct']:.1f}%"
                if "supervisor_cpu_pct" in original
                else ""
            ),
        ),
    ]


def _memory_detail(uss: float | None, paho_rss: float | None, extras: dict[str, Any]) -> str:
    parts = []
    if uss:
        parts.append(f"standalone worker, USS {uss:.1f} MiB")
    if paho_rss:
        parts.append(f"a bare paho process has {paho_rss:.1f} MiB RSS")
    ladder = extras.get("import_rss") or []
    if ladder:
        parts.append(
            "RSS of a fresh interpreter as a worker's imports are added: "
            + ", ".join(f"{label} {mib:.1f}" for label, mib in ladder)
        )
    sup = extras.get("supervised_memory", {})
    if "loaded" in sup:
        loaded = sup["loaded"]
        parts.append(
            f"under the supervisor (forked, {sup['workers']} slots, after {sup['messages']:,} "
            f"messages) each worker has RSS {loaded['rss']:.1f}, USS {loaded['uss']:.1f}, "
            f"PSS {loaded['pss']:.1f} MiB"
        )
    return "; ".join(parts)


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
        "tools": ("py-spy",),
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
        *[
            f"- {name}: measured separately, {part['date']}; see its section"
            for name, part in (
                ("latency", (data.get("extras") or {}).get("latency") or {}),
                ("the many-workers pod", (data.get("extras") or {}).get("fleet") or {}),
            )
            if part.get("date") and part["date"][:13] != data["date"][:13]
        ],
        f"- machine: {m['cores']} cores ({m['cpu']}), {m['system']}; Python {m['python']}, "
        f"mosquitto {m['mosquitto']} on loopback",
        f"- load average (1 min): {data['load']['before']:.2f} before, "
        f"{data['load']['during_median']:.2f} median while consumers ran, "
        f"{data['load']['after']:.2f} after"
        # The broker and a consumer keep about 1.2 of the 2 cores busy by themselves, so only
        # the load before the run says whether other work shared the machine.
        + (" (other work was running: expect noise)" if data["load"]["before"] > 1 else ""),
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
        "| goal | target | measured | verdict | the numbers behind it |",
        "|---|---:|---:|---|---|",
    ]
    for g in data["goals"]:
        unit = g["unit"]
        measured = "—" if g["measured"] is None else _fmt_goal(g["measured"], unit)
        comparison = ">=" if g.get("higher_is_better", g["goal"] != "RSS per worker") else "<="
        lines.append(
            f"| {g['goal']} | {comparison} {_fmt_goal(g['target'], unit)} | {measured} "
            f"| {g['gap']} | {g['detail']} |"
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
            client = (row.get("slot") or {}).get("transport")
            lines.append(
                f"| {label}{f' · {client}' if client else ''} | {fmt_rate(r['median'])} "
                f"| {fmt_rate(r['min'])} to {fmt_rate(r['max'])} "
                f"| {r['spread_pct']:.0f}% | {x} | {row['cpu_us_per_msg']:.0f} "
                f"| {row['rss_mib']:.1f} | {row['uss_mib']:.1f} |"
            )
    lines += _ratio_section(summary)
    lines += _extras_section(data.get("extras") or {})
    lines += _latency_section(data.get("extras", {}).get("latency"))
    lines += _fleet_section(data.get("extras", {}).get("fleet"))
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


def _extras_section(extras: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    sup = extras.get("supervised_memory")
    if sup:
        lines += ["", "## Memory of a supervised app", ""]
        if "error" in sup:
            lines.append(f"failed: {sup['error']}")
        else:
            lines += [
                f"`python -m routemq_runtime run --workers` on an app with one shared route of "
                f"{sup['workers']} workers: the supervisor forks its slots, which share the "
                "interpreter's pages with it. MiB per worker (largest of the slots):",
                "",
                "| | RSS | USS | PSS |",
                "|---|---:|---:|---:|",
            ]
            for label, key in (
                ("worker, idle", "idle"),
                (f"worker, after {sup['messages']:,} messages", "loaded"),
                ("supervisor process", "supervisor"),
            ):
                m = sup[key]
                lines.append(f"| {label} | {m['rss']:.1f} | {m['uss']:.1f} | {m['pss']:.1f} |")
    ladder = extras.get("import_rss")
    if ladder:
        lines += [
            "",
            "RSS of a fresh interpreter as a worker's imports are added, MiB: "
            + " → ".join(f"{label} {mib:.1f}" for label, mib in ladder)
            + ".",
        ]
    profile = extras.get("profile")
    if profile and profile.get("samples"):
        lines += [
            "",
            "## Where a RouteMQ worker spends its time",
            "",
            f"py-spy, sampling one QoS 1 drain ({profile['samples']:,} samples; "
            f"{profile['rate_while_profiled']:,.0f} msg/s while sampled). Self time by area: "
            + ", ".join(f"{name} {share:.0f}%" for name, share in profile["areas"])
            + ".",
            "",
            "| function (self time) | share |",
            "|---|---:|",
        ]
        lines += [f"| `{name}` | {share:.1f}% |" for name, share in profile["functions"]]
    elif profile:
        lines += ["", f"Profile: {profile.get('error', 'no samples')}"]
    return lines


def _latency_section(latency: dict[str, Any] | None) -> list[str]:
    if not latency:
        return []
    lines = ["", "## Latency at a steady rate", ""]
    if "error" in latency:
        return [*lines, f"failed: {latency['error']}"]
    during = latency.get("load_during_median")
    lines += [
        f"Measured {latency.get('date', '?')} by `{latency.get('command', 'bench/compare.py')}`; "
        "load average (1 min) "
        f"{latency.get('load_before', 0):.2f} before"
        + (f", {during:.2f} median while the runs went on" if during is not None else "")
        + f"; {latency.get('runs', 1)} run(s) per system and rate, each quantile the median "
        "run's.",
        "",
        f"Publish → handler start, QoS 1, one ~100-byte JSON reading per message from one paced "
        f"publisher, {latency['seconds']:.0f} s per rate. The rates are fractions of what bare "
        f"paho drained in this run ({latency['capacity']:,.0f} msg/s from a "
        f"{latency['capacity_messages']:,}-message backlog). A message not handled within "
        f"{latency['deadline']:.0f} s of the stream's start counts as slower than every handled "
        "one (shown as `> x`). Milliseconds; `x paho` is p99 over bare paho's p99 at that rate.",
    ]
    for fraction in latency["fractions"]:
        lines += [
            "",
            f"### {fraction:.0%} of capacity ({latency['capacity'] * fraction:,.0f} msg/s)",
            "",
            "| system | sent msg/s | handled | p50 | p99 | p99.9 | max | x paho (p99) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        base = value_ms(_at(latency, "paho", fraction).get("p99"))
        for case, by_rate in latency["cases"].items():
            row = by_rate.get(str(fraction))
            if row is None:
                continue
            label = latency_label(case)
            if "error" in row:
                lines.append(f"| {label} | failed: {row['error']} | | | | | | |")
                continue
            p99 = value_ms(row["p99"])
            x = f"{p99 / base:.2f}x" if base and p99 is not None else "—"
            if isinstance(row["p99"], dict) and base:
                x = f"> {x}"
            handled = row["handled"] / row["sent"] * 100 if row["sent"] else 0
            lines.append(
                f"| {label} | {row['rate']:,.0f} | {handled:.1f}% | {fmt_ms(row['p50'])} "
                f"| {fmt_ms(row['p99'])} | {fmt_ms(row['p99.9'])} | {fmt_ms(row['max'])} | {x} |"
            )
    return lines


def _fleet_section(fleet: dict[str, Any] | None) -> list[str]:
    if not fleet:
        return []
    n = f"{fleet['routes']}x{fleet['workers']}"
    lines = [
        "",
        f"## Many workers: {fleet['routes']} shared routes x {fleet['workers']} workers",
        "",
        f"Measured {fleet.get('date', '?')} by `{fleet.get('command', 'bench/compare.py')}`; "
        "load average (1 min) "
        f"{fleet.get('load_before', 0):.2f} before (what the runs just before it left).",
        "",
        "Each system starts the pod as its user would and stays idle on its own broker. "
        "*subscribed*: the broker has logged every expected SUBSCRIBE; *ready*: `/readyz` "
        "answers 200 (RouteMQ only). PSS counts pages shared between forks once; *per extra "
        "worker* is the pod's PSS minus a 1 x 1 pod's, over the extra workers. Idle CPU over "
        f"{fleet['idle_seconds']:.0f} s, % of one core. See `bench/peers/fleet.py`.",
        "",
        "| system | pod | processes | subscribed s | ready s | PSS MiB total | supervisor "
        "PSS MiB | PSS per extra worker MiB | supervisor CPU % | workers CPU % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for system, label in (("routemq", "RouteMQ"), ("original", "original RouteMQ")):
        pods = fleet.get(system) or {}
        for name in ("1x1", n):
            pod = pods.get(name)
            if pod is None:
                continue
            if "error" in pod:
                lines.append(f"| {label} | {name} | failed: {pod['error']} | | | | | | | |")
                continue
            extra = pods.get("pss_per_extra_worker_mib") if name == n else None
            ready = f"{pod['ready_s']:.2f}" if "ready_s" in pod else "—"
            lines.append(
                f"| {label} | {name} | {pod['workers_found']} | {pod['subscribed_s']:.2f} "
                f"| {ready} | {pod['pss_total_mib']:.1f} | {pod['pss_supervisor_mib']:.1f} "
                f"| {'—' if extra is None else f'{extra:.2f}'} "
                f"| {pod['supervisor_cpu_pct']:.2f} | {pod['workers_cpu_pct']:.2f} |"
            )
    lines += [
        "",
        "RouteMQ gives each slot one route (8 x 4 = 32 subscriptions); the original's "
        "WorkerManager starts one process per unit of `worker_count` and every process "
        "subscribes to every shared route (32 x 8 = 256 subscriptions).",
    ]
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
        f"({IO_CONCURRENCY} for the I/O-bound case). Its MQTT client is the default "
        "(`MQTT_TRANSPORT=native`) except in the rows *on paho* (`MQTT_TRANSPORT=paho`); "
        "*without orjson* is the default client in a process where `import orjson` fails.",
        "- **original RouteMQ**: `bench/peers/routemq_original.py`; its `WorkerProcess.run()` "
        "(paho network thread + dispatch loop thread + `Router.dispatch`), with a fixed client "
        "id and a persistent session instead of its random id and clean session, so it can "
        "resume the queued backlog.",
        "- **FastStream**: `bench/peers/faststream_mqtt.py`; `MQTTBroker` (zmqtt) with a "
        "`@broker.subscriber` per route on the shared group, a `{device_id}` path parameter and "
        "a `dict` body; acknowledgement after the handler (its default); per-message log lines "
        f"moved to DEBUG; `max_workers={IO_CONCURRENCY}` for the I/O-bound case; "
        "`session_replay_buffer_size=0` so that zmqtt keeps every message of a resumed session "
        "that arrives before its subscribers are registered. With a queued QoS 0 backlog, "
        "zmqtt 0.2.5 still stalls here: the backlog floods in ahead of the SUBACK, each "
        "subscription buffers at most 1,000 messages (not configurable through FastStream), and "
        "the connection stops being read until it times out; the QoS 0 row shows that error.",
        "- The original RouteMQ acknowledges a message in paho's thread as soon as it arrives and "
        "schedules its handler on a second thread's event loop, without backpressure: its memory "
        "grows with the backlog it has been handed (compare its RSS across cases).",
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
    parser.add_argument(
        "--no-extras",
        action="store_true",
        help="skip the supervised-memory run, the py-spy profile and the import-size probe",
    )
    parser.add_argument("--no-latency", action="store_true", help="skip the latency runs")
    parser.add_argument("--no-fleet", action="store_true", help="skip the 32-worker pod")
    parser.add_argument(
        "--latency-seconds", type=float, default=5.0, help="length of each paced stream"
    )
    parser.add_argument("--latency-runs", type=int, default=3, help="runs per case and rate")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated subset of latency,fleet: measure only these and merge them into "
        "the existing results file and report",
    )
    parser.add_argument(
        "--latency-rates",
        default=",".join(str(f) for f in LATENCY_FRACTIONS),
        help="fractions of bare paho's capacity to publish at",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where docs/ lives")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: recompute the goals, plots and report from the results file",
    )
    args = parser.parse_args(argv)
    if args.render_only:
        return render_only(args.out)
    args.latency_fractions = [float(f) for f in args.latency_rates.split(",") if f.strip()]
    if args.quick:
        args.runs = 1
        args.messages = min(args.messages, 20_000)
        args.latency_seconds = min(args.latency_seconds, 1.5)
        PEER_IDLE[0] = 8.0
        args.latency_fractions = [0.5]
        args.latency_runs = 1
    only = set(_choices(args.only, {"latency": 1, "fleet": 1}, "part")) if args.only else set()
    if only:
        args.scenarios, args.no_cli, args.no_extras = "", True, True
        args.no_latency, args.no_fleet = "latency" not in only, "fleet" not in only
    args.scenarios = _choices(args.scenarios, SCENARIOS, "scenario")
    args.systems = _choices(args.systems, SYSTEMS, "system")

    load_before = os.getloadavg()[0]
    progress(f"{os.cpu_count()} cores, load average {load_before:.2f}; preparing environments")
    venvs_needed = {SYSTEMS[s].venv or "project" for s in args.systems}
    envs = prepare_environments(
        venvs_needed,
        plots=not args.no_plots,
        tools=not args.no_extras and "routemq" in args.systems,
    )
    bench = run_benchmark(args, envs)
    command = " ".join(["python bench/compare.py", *(sys.argv[1:] if argv is None else argv)])
    for part in ("latency", "fleet"):
        if isinstance(bench["extras"].get(part), dict):
            bench["extras"][part]["command"] = command
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
        "goals": [g.as_dict() for g in goals(summary, bench["extras"])],
        "publish_rates": bench["publish_rates"],
        "skipped": bench["skipped"],
        "cli": cli,
        "extras": bench["extras"],
        "raw": bench["raw"],
        "plots": [],
    }
    results_dir = args.out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / "comparison.json"
    if only and json_path.exists():
        # Keep everything else from the last full run; the new parts carry their own date/load.
        previous = json.loads(json_path.read_text())
        previous.setdefault("extras", {}).update(
            {k: v for k, v in bench["extras"].items() if k in only}
        )
        previous["goals"] = [g.as_dict() for g in goals(previous["summary"], previous["extras"])]
        previous["versions"] = {**previous.get("versions", {}), **data["versions"]}
        data = previous
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


def render_only(out: Path) -> int:
    json_path = out / "results" / "comparison.json"
    data = json.loads(json_path.read_text())
    data["goals"] = [g.as_dict() for g in goals(data["summary"], data.get("extras") or {})]
    plots, _ = venv_for("plots", ["matplotlib"], [], check="import matplotlib")
    if plots is not None:
        data["plots"] = draw_plots(plots, json_path, out / "img")
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    (out / "comparison.md").write_text(render_markdown(data))
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
