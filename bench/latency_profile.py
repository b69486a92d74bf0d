"""Where one worker spends its time while it takes a live stream: py-spy on one latency run.

    python bench/latency_profile.py                      # RouteMQ slot at 25,000 msg/s for 5 s
    python bench/latency_profile.py --system paho --rate 12000

Uses the cached venvs of ``bench/compare.py`` (run it once first: the ``tools`` venv holds
py-spy, ``paho`` the bare paho baseline). Sampling at 1 kHz slows the worker down, so the
latency printed here is not comparable with ``compare.py``'s; the shares of self time are what
this is for.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "bench" / "peers")]

import compare  # noqa: E402
from latency import fmt_ms  # noqa: E402
from live import run_live  # noqa: E402
from throughput import prime_session  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=("routemq", "routemq5", "paho"), default="routemq")
    parser.add_argument("--rate", type=float, default=25_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    tools = compare.CACHE / "venvs" / "tools" / "bin" / "py-spy"
    if not tools.exists():
        raise SystemExit(f"no py-spy at {tools}: run bench/compare.py once first")
    system = compare.SYSTEMS[args.system]
    if system.venv:
        env = compare.Environment(
            system.venv, str(compare.CACHE / "venvs" / system.venv / "bin/python")
        )
    else:
        env = compare.Environment("project", sys.executable)
    scenario = compare.Scenario("latency", "latency", 1, "latency", 1, 1, (system.key,))
    job = compare.Job(system, scenario, 0, 10**9)
    logs = Path(tempfile.mkdtemp(prefix="routemq-latency-profile-"))
    raw = logs / "profile.txt"
    spies: list[subprocess.Popen[bytes]] = []

    def attach(pids: list[int]) -> None:
        cmd = [str(tools), "record", "--nonblocking", "--format", "raw", "--rate", "1000"]
        cmd += ["-o", str(raw), "--pid", str(pids[0])]
        spies.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)

    broker = compare.start_broker()
    try:
        client_id = job.client_ids()[0]
        prime_session(
            broker, client_id, f"$share/{job.group}/{compare.HOT_FILTER}", system.protocol
        )
        command = [*compare.peer_command(env, job, client_id, broker.port), "--idle=1.5"]
        result = run_live(
            {client_id: command},
            compare.peer_environment(env),
            logs,
            broker.host,
            broker.port,
            compare.HOT_TOPIC,
            args.rate,
            args.seconds,
            args.seconds + 3,
            attach=attach,
        )
    finally:
        for spy in spies:
            spy.wait(timeout=30)
        broker.cleanup()
    print(
        f"{system.label} at {result['rate']:,.0f} msg/s under py-spy: p50 {fmt_ms(result['p50'])} "
        f"p99 {fmt_ms(result['p99'])} ms (load average {os.getloadavg()[0]:.2f})"
    )
    profile = compare.summarize_profile(raw.read_text() if raw.exists() else "")
    print(f"{profile['samples']:,} samples; self time by area:")
    for name, share in profile.get("areas", []):
        print(f"  {share:5.1f}%  {name}")
    print("by function:")
    for name, share in profile.get("functions", []):
        print(f"  {share:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
