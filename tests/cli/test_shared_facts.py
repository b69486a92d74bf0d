"""Facts the CLI states without importing the runtime (its light commands must not load it):
each is checked here against the runtime's own statement, so the two cannot drift apart."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import typer

from routemq_cli.commands import app_dir as cli_app_dir
from routemq_cli.commands.run import run_app
from routemq_runtime import app as runtime_app
from routemq_runtime import app_loader


def test_the_app_marker_is_the_runtimes_routers_package() -> None:
    assert cli_app_dir.MARKER == app_loader.ROUTERS_DIR


def test_both_find_the_same_app_directory(app_dir: Path) -> None:
    nested = app_dir / "app" / "controllers"
    assert cli_app_dir.find_app_dir(nested) == app_loader.find_app_dir(nested) == app_dir.resolve()


def test_both_refuse_a_directory_outside_any_app(tmp_path: Path) -> None:
    with pytest.raises(cli_app_dir.AppDirNotFound):
        cli_app_dir.find_app_dir(tmp_path)
    with pytest.raises(app_loader.AppNotFoundError):
        app_loader.find_app_dir(tmp_path)


def test_num_workers_means_the_same_in_both_commands() -> None:
    option = typing.get_type_hints(run_app, include_extras=True)["num_workers"]
    [info] = [meta for meta in option.__metadata__ if isinstance(meta, typer.models.OptionInfo)]
    assert info.help == runtime_app.NUM_WORKERS_HELP
    parser = runtime_app.build_parser()
    [action] = [a for a in parser._actions if "--num-workers" in a.option_strings]
    assert action.help == runtime_app.NUM_WORKERS_HELP
