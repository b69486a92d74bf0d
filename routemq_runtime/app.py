"""Run an app directory: ``python -m routemq_runtime run`` and a generated app's ``main.py``.

Both modes run under the supervisor (restarts, drain, health):

- without ``--workers`` (development): every shared route is served by one slot and the
  non-shared routes by one more. Shared routes still subscribe as ``$share/{group}/...``, so
  running more copies of the app (pods) spreads the messages between them. ``WORKER_COUNT``
  and ``WORKER_AUTO_SCALE`` are ignored in this mode.
- with ``--workers``: ``--num-workers N`` (else ``WORKER_COUNT``) is the number of worker
  processes for the shared routes in total, shared out over them in proportion to their
  ``worker_count`` (at least one each); without either, each shared route gets its own
  ``worker_count``. The non-shared routes always share one more process.
  ``WORKER_AUTO_SCALE=true`` then scales each route between ``WORKER_MIN_COUNT`` and
  ``WORKER_MAX_COUNT``.

Exit codes: 0 after a clean stop, 1 when a slot kept dying or a router failed to import, 2 for
bad arguments or configuration, 3 when a slot could not boot (refused credentials, unknown
route).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from routemq_runtime.app_loader import load_app_router, prepare_app_path
from routemq_runtime.config import Config, ConfigError
from routemq_runtime.failed.store import anchored
from routemq_runtime.lifecycle import EXIT_FAILED, EXIT_USAGE
from routemq_runtime.log import configure_from_config
from routemq_runtime.routing import RouteDefinitionError, Router, RouterLoadError
from routemq_runtime.supervisor.rundir import ensure_metrics_dir

logger = logging.getLogger("routemq.app")

EXIT_LOAD_ERROR = EXIT_FAILED
#: What ``--num-workers`` means; ``routemq run`` says the same (a test keeps them equal).
NUM_WORKERS_HELP = (
    "Worker processes in total, shared out over the shared routes by their worker_count, "
    "at least one each (implies --workers; overrides WORKER_COUNT)."
)
__all__ = ["EXIT_LOAD_ERROR", "EXIT_USAGE", "NUM_WORKERS_HELP", "build_parser", "main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a RouteMQ app: its routes served by supervised worker processes.",
    )
    parser.add_argument(
        "--workers",
        action="store_true",
        help="use the per-route worker counts (or WORKER_COUNT / --num-workers) "
        "instead of one process per route",
    )
    parser.add_argument(
        "--num-workers",
        type=_positive_int,
        metavar="N",
        help=NUM_WORKERS_HELP,
    )
    parser.add_argument(
        "--group", metavar="NAME", help="shared subscription group (MQTT_GROUP_NAME)"
    )
    parser.add_argument(
        "--app-dir",
        metavar="DIR",
        type=Path,
        help="the app directory, containing app/routers/ (default: the current directory)",
    )
    return parser


def main(argv: Sequence[str] | None = None, app_dir: str | os.PathLike[str] | None = None) -> int:
    """Parse ``argv``, load the app and run it until SIGTERM/SIGINT; return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as stop:  # argparse exits on --help and on bad arguments
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE

    # Before any import of prometheus_client (the app's own modules included): multiprocess
    # metrics are chosen when the library is imported.
    ensure_metrics_dir()
    try:
        directory, config = _prepare(Path(args.app_dir or app_dir or "."), args.group)
    except (FileNotFoundError, ConfigError) as error:
        # A ConfigError's text already starts with "invalid configuration:".
        print(f"routemq: {error}", file=sys.stderr)
        return EXIT_USAGE
    configure_from_config(config, worker="supervisor")

    try:
        router = load_app_router(directory)
    except (RouterLoadError, RouteDefinitionError) as error:
        logger.error("cannot start: %s", error)
        return EXIT_LOAD_ERROR
    except Exception:
        logger.exception("cannot start: loading the app's routers from %s failed", directory)
        return EXIT_LOAD_ERROR
    return _supervise(router, config, args)


def _prepare(directory: Path, group: str | None) -> tuple[Path, Config]:
    """The app directory (importable, its .env loaded) and the configuration it runs with."""
    directory = prepare_app_path(directory)
    # The store of failed messages lives in the app's directory, whatever the working one.
    config = anchored(Config.from_env(env_file=directory / ".env"), directory)
    if group:
        # The same as MQTT_GROUP_NAME: one group, the same client ids either way.
        config = dataclasses.replace(config, mqtt_group_name=group)
    return directory, config


def _supervise(router: Router, config: Config, args: argparse.Namespace) -> int:
    # Here, after ensure_metrics_dir(): the supervisor loads the metrics (prometheus-client).
    from routemq_runtime.supervisor import PlanError, WorkerManager

    workers_mode = args.workers or args.num_workers is not None
    num_workers = args.num_workers if workers_mode else 1
    if not workers_mode and (config.worker_count or config.worker_auto_scale):
        logger.warning(
            "WORKER_COUNT / WORKER_AUTO_SCALE apply with --workers only; "
            "running one process per route"
        )
    try:
        manager = WorkerManager(
            router,
            config=config,
            auto_scale=config.worker_auto_scale and workers_mode,
        )
        return manager.run(num_workers)
    except ConfigError as error:  # the supervisor's preflight (TLS files, group name)
        print(f"routemq: {error}", file=sys.stderr)
        return EXIT_USAGE
    except PlanError as error:
        logger.error("cannot start: %s", error)
        return EXIT_USAGE
    except OSError as error:
        logger.error("cannot start: %s", error)
        return EXIT_LOAD_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
