"""``--version`` and the grouped, coloured help."""

from __future__ import annotations

import re
from pathlib import Path

from routemq_runtime import __version__
from tests.cli.conftest import run_routemq

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_version(invoke) -> None:
    for flag in ("--version", "-V"):
        result = invoke(flag)
        assert result.exit_code == 0, result.output
        assert result.output == f"routemq {__version__}\n"


def test_help_groups_commands_in_panels(tmp_path: Path) -> None:
    result = run_routemq("--help", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    text = result.stdout
    panels = {
        "Generators": [
            "make:controller",
            "make:router",
            "make:middleware",
            "make:test",
            "stub:publish",
        ],
        "App": [
            "route:list",
            "run",
            "publish",
            "subscribe",
            "config:show",
            "docs:asyncapi",
            "doctor",
            "completion",
        ],
        "Failed messages": [
            "failed:list",
            "failed:show",
            "failed:retry",
            "failed:forget",
            "failed:flush",
        ],
        "Project": ["new", "upgrade"],
    }
    starts = {name: text.index(f"─ {name} ─") for name in panels}
    assert starts["Generators"] < starts["App"] < starts["Project"]
    assert starts["App"] < starts["Failed messages"] < starts["Project"]
    ends = [*sorted(starts.values()), len(text)]
    for name, commands in panels.items():
        section = text[starts[name] : ends[ends.index(starts[name]) + 1]]
        listed = re.findall(r"│ ([a-z:]+) ", section)
        assert listed == commands, f"{name}: {listed}"


def test_help_is_coloured_on_a_terminal(tmp_path: Path) -> None:
    coloured = run_routemq("--help", cwd=tmp_path, env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert coloured.returncode == 0, coloured.stderr
    assert ANSI.search(coloured.stdout)
    assert "make:controller" in ANSI.sub("", coloured.stdout)


def test_no_arguments_shows_help(tmp_path: Path) -> None:
    result = run_routemq(cwd=tmp_path)
    assert "make:controller" in result.stdout + result.stderr


def test_command_help_lists_its_options(invoke) -> None:
    result = invoke("make:router", "--help")
    assert result.exit_code == 0, result.output
    for option in ("--controller", "--prefix", "--force", "--dry-run"):
        assert option in result.output
