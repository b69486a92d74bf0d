"""Start-up cost of the ``routemq`` command, side by side with ``python -c "import typer"``.

    python bench/cli_startup.py [--runs 21]

Each case runs as a fresh process, interleaved round-robin so that background load affects all
cases alike; the table shows the median and the fastest run in milliseconds and the median's
ratio to the ``import typer`` baseline. Goal: ``make:controller`` at most 1.5x the baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable
ROUTEMQ = str(Path(sys.executable).parent / "routemq")
GOAL = 1.5


def make_app(root: Path) -> Path:
    """A minimal app directory: what the CLI looks for, plus a router for route:list."""
    for package in ("app", "app/routers", "app/controllers", "app/middleware"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "tests").mkdir(exist_ok=True)
    (root / "app/controllers/sensor_controller.py").write_text(
        "class SensorController:\n    async def process(self, device_id, payload):\n        pass\n"
    )
    (root / "app/routers/sensors.py").write_text(
        "from routemq_runtime import Router\n"
        "from app.controllers.sensor_controller import SensorController\n"
        "router = Router()\n"
        "router.on('sensors/{device_id}', SensorController.process, shared=True, worker_count=2)\n"
    )
    return root


def cases() -> dict[str, list[str]]:
    counter = iter(range(1_000_000))
    return {
        'python -c "import typer"': [PYTHON, "-c", "import typer"],
        "routemq --help": [ROUTEMQ, "--help"],
        "routemq make:controller X --dry-run": [ROUTEMQ, "make:controller", "Bench", "--dry-run"],
        # A real make: a new name every run, so every run creates its two files.
        "routemq make:controller X (writes)": lambda: [
            ROUTEMQ,
            "make:controller",
            f"Bench{next(counter)}",
        ],
        "routemq route:list": [ROUTEMQ, "route:list"],
    }


def time_once(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command} failed:\n{result.stdout.decode()}{result.stderr.decode()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="routemq-bench-") as tmp:
        app = make_app(Path(tmp) / "app_root")
        commands = cases()
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():  # warm-up: compile .pyc files, fill page cache
            time_once(command() if callable(command) else command, app)
        for _ in range(args.runs):
            for name, command in commands.items():
                samples[name].append(time_once(command() if callable(command) else command, app))

    baseline = statistics.median(samples['python -c "import typer"'])
    rows = [
        {
            "case": name,
            "median_ms": round(statistics.median(times) * 1000, 1),
            "min_ms": round(min(times) * 1000, 1),
            "ratio": round(statistics.median(times) / baseline, 2),
        }
        for name, times in samples.items()
    ]
    if args.json:
        print(json.dumps({"runs": args.runs, "results": rows}, indent=2))
    else:
        width = max(len(row["case"]) for row in rows)
        print(f"{'case':<{width}}  {'median ms':>9}  {'min ms':>7}  {'x typer':>7}")
        for row in rows:
            print(
                f"{row['case']:<{width}}  {row['median_ms']:>9.1f}  {row['min_ms']:>7.1f}  "
                f"{row['ratio']:>7.2f}"
            )
        print(f"\n{args.runs} interleaved runs per case; goal: make:controller <= {GOAL}x typer")
    make = next(row for row in rows if row["case"].endswith("--dry-run"))
    return 0 if make["ratio"] <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
