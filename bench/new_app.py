"""`routemq new` against a bare `copier copy` of the same template, side by side.

Both are timed as the user runs them, as fresh processes (interpreter start-up and imports
included), alternating in each round so machine noise hits both alike:

- copier: ``copier copy --defaults --quiet`` of a plain copy of this repository's template
  (``copier.yml`` + ``template/``, no git: what ``routemq new`` renders);
- new --no-git: ``routemq new NAME --defaults --no-git`` (render, answers file, output);
- new: ``routemq new NAME --defaults`` (the same plus ``git init`` and the first commit);
- copier + git: the bare copy followed by ``git init``, ``git add --all`` and ``git commit``,
  what a user would type to get what ``routemq new`` gives.

The goal is routemq new <= 1.2x copier. Run: ``python bench/new_app.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.2
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "RouteMQ Bench",
    "GIT_AUTHOR_EMAIL": "bench@routemq.invalid",
    "GIT_COMMITTER_NAME": "RouteMQ Bench",
    "GIT_COMMITTER_EMAIL": "bench@routemq.invalid",
}


def executable(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        raise SystemExit(f"{name} is not installed (pip install -e . -e ./cli)")
    return found


Step = tuple[str, list[str]]  # (folder under the output folder, "" for itself; command)


def timed(steps: list[Step], out: Path, env: dict[str, str]) -> float:
    """Wall time of running the steps one after the other."""
    started = time.perf_counter()
    for folder, cmd in steps:
        result = subprocess.run(cmd, cwd=out / folder, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    copier, routemq = executable("copier"), executable("routemq")
    env = {**os.environ, **GIT_IDENTITY}
    with tempfile.TemporaryDirectory(prefix="routemq-bench-new-") as tmp:
        work = Path(tmp)
        template = work / "template-plain"
        template.mkdir()
        shutil.copy2(ROOT / "copier.yml", template / "copier.yml")
        shutil.copytree(
            ROOT / "template",
            template / "template",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        out = work / "out"
        out.mkdir()

        def copier_copy(slug: str) -> list[Step]:
            cmd = [copier, "copy", "--defaults", "--quiet", "--data", f"project_slug={slug}"]
            return [("", [*cmd, str(template), slug])]

        def copier_and_git(slug: str) -> list[Step]:
            message = f"Create {slug}"
            git = [["git", "init", "--quiet"], ["git", "add", "--all"]]
            git.append(["git", "commit", "--quiet", "-m", message])
            return [*copier_copy(slug), *((slug, cmd) for cmd in git)]

        contenders: dict[str, Callable[[str], list[Step]]] = {
            "copier copy": copier_copy,
            "routemq new --no-git": lambda slug: [
                ("", [routemq, "new", slug, "--defaults", "--no-git", "--no-install"])
            ],
            "routemq new": lambda slug: [
                ("", [routemq, "new", slug, "--defaults", "--no-install"])
            ],
            "copier copy + git": copier_and_git,
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        # One unmeasured round warms the file system caches for everyone.
        for round_no in range(args.rounds + 1):
            for index, (name, command) in enumerate(contenders.items()):
                slug = f"app_{round_no}_{index}"
                elapsed = timed(command(slug), out, env)
                if round_no:
                    samples[name].append(elapsed)
                shutil.rmtree(out / slug)

    print()
    baseline = statistics.median(samples["copier copy"])
    print(f"{'command':<24}{'median s':>10}{'min s':>9}{'max s':>9}{'vs copier':>11}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(
            f"{name:<24}{median:>10.3f}{min(values):>9.3f}{max(values):>9.3f}"
            f"{median / baseline:>10.2f}x"
        )
    new = statistics.median(samples["routemq new"])
    with_git = statistics.median(samples["copier copy + git"])
    for label, ratio in (
        (
            "routemq new --no-git / copier copy",
            statistics.median(samples["routemq new --no-git"]) / baseline,
        ),
        ("routemq new / copier copy", new / baseline),
        ("routemq new / copier copy + git", new / with_git),
    ):
        verdict = "meets" if ratio <= GOAL else "misses"
        print(f"{label:<38} {ratio:.2f}x ({verdict} the {GOAL}x goal)")
    print(f"{args.rounds} rounds, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
