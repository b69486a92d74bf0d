"""``python -m routemq_runtime run``: run an app directory under the supervisor."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: python -m routemq_runtime run [--workers] [--num-workers N] [--group NAME]
                                             [--app-dir DIR]

commands:
  run        run the app in DIR (default: the current directory) under the supervisor
  --version  print the runtime's version

'python -m routemq_runtime run --help' describes the options."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "run":
        # Only `run` pays for the app runner; `--version` and `--help` answer at once.
        from routemq_runtime.app import main as run_main

        return run_main(args[1:])
    if args and args[0] == "--version":
        from routemq_runtime import __version__  # the package, only when asked

        print(__version__)
        return 0
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    problem = f"unknown command {args[0]!r}" if args else "a command is required"
    print(f"{USAGE}\n\nerror: {problem}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
