"""Shell completion: scripts for bash, zsh and fish; bash completes ``make:*`` despite ``:``."""

from __future__ import annotations

import os
import pty
import select
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.conftest import ROUTEMQ, SCRIPTS, run_routemq

BASH = shutil.which("bash")


def test_completion_prints_a_script_per_shell(invoke) -> None:
    bash = invoke("completion", "bash")
    assert bash.exit_code == 0, bash.output
    assert "complete -o default -F _routemq_completion routemq" in bash.output
    assert "COMP_WORDBREAKS" in bash.output

    zsh = invoke("completion", "zsh")
    assert zsh.exit_code == 0, zsh.output
    assert "#compdef routemq" in zsh.output
    assert "_ROUTEMQ_COMPLETE=complete_zsh" in zsh.output

    fish = invoke("completion", "fish")
    assert fish.exit_code == 0, fish.output
    assert "complete --command routemq" in fish.output
    assert "_ROUTEMQ_COMPLETE=complete_fish" in fish.output


def test_unknown_shell_is_refused(invoke) -> None:
    result = invoke("completion", "tcsh")
    assert result.exit_code == 2
    assert "tcsh" in result.output


def _candidates(line: str, shell: str, tmp_path: Path) -> list[str]:
    env = {"_ROUTEMQ_COMPLETE": f"complete_{shell}", "_ROUTEMQ_COMPLETE_ARGS": line}
    if shell == "fish":
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    result = run_routemq(cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_completion_answers_for_each_shell(tmp_path: Path) -> None:
    assert _candidates("routemq make:", "bash", tmp_path) == [
        "make:controller",
        "make:router",
        "make:middleware",
        "make:test",
    ]
    assert _candidates("routemq subs", "bash", tmp_path) == ["subscribe"]
    assert "--count" in _candidates("routemq subscribe --", "bash", tmp_path)
    assert "--dry-run" in _candidates("routemq make:controller --", "bash", tmp_path)
    assert any("make\\\\:controller" in c for c in _candidates("routemq mak", "zsh", tmp_path))
    assert "route:list" in " ".join(_candidates("routemq rou", "fish", tmp_path))


def _bash_complete(script: Path, line: str, colon_breaks: bool = True) -> list[str]:
    """Call the completion function the way bash does, with bash's colon-split COMP_WORDS."""
    words_setup = 'read -ra parts <<< "${line//:/ : }"; COMP_WORDS=("${parts[@]}")'
    breaks = "" if colon_breaks else 'COMP_WORDBREAKS="${COMP_WORDBREAKS//:/}"'
    program = f"""
        source {shlex.quote(str(script))}
        line={shlex.quote(line)}
        {breaks}
        {words_setup}
        COMP_LINE="$line"; COMP_POINT=${{#line}}; COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
        _routemq_completion {shlex.quote(str(ROUTEMQ))} "${{COMP_WORDS[COMP_CWORD]}}"
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    result = subprocess.run(
        [BASH, "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PATH": f"{SCRIPTS}{os.pathsep}{os.environ['PATH']}"},
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert BASH, "bash is needed to test bash completion"
    script = tmp_path_factory.mktemp("completion") / "routemq.bash"
    result = run_routemq("completion", "bash", cwd=script.parent)
    assert result.returncode == 0, result.stderr
    script.write_text(result.stdout)
    return script


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("routemq make:c", ["controller"]),
        ("routemq make:", ["controller", "router", "middleware", "test"]),
        ("routemq route:l", ["list"]),
        ("routemq ma", ["make:controller", "make:router", "make:middleware", "make:test"]),
        ("routemq stub:publish --f", ["--force"]),
    ],
)
def test_bash_function_trims_what_bash_already_split_at_colons(
    bash_script: Path, line: str, expected: list[str]
) -> None:
    assert _bash_complete(bash_script, line) == expected


def test_bash_without_colon_in_wordbreaks_gets_whole_words(bash_script: Path) -> None:
    assert _bash_complete(bash_script, "routemq make:c", colon_breaks=False) == ["make:controller"]


def _interactive_bash_line(script: Path, typed: str, expected: str) -> str:
    """Type ``typed`` + TAB into a real interactive bash; what it shows, once ``expected``
    appears (or after a timeout)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: an interactive bash reading from the pseudo-terminal
        env = {
            **os.environ,
            "PS1": "$ ",
            "TERM": "dumb",
            "INPUTRC": "/dev/null",
            "PATH": f"{SCRIPTS}{os.pathsep}{os.environ['PATH']}",
        }
        os.execve(BASH, [BASH, "--norc", "--noprofile", "-i"], env)

    def read_until(marker: str, timeout: float) -> str:
        seen = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and marker not in seen:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(fd, 4096).decode(errors="replace")
                except OSError:
                    break
        return seen

    try:
        # Bash discards what was typed before its first prompt, so wait for it.
        read_until("$ ", 15)
        os.write(fd, f"source {script}; echo SOURCED\n".encode())
        read_until("SOURCED\r\n$ ", 15)
        os.write(fd, typed.encode() + b"\t")
        return read_until(expected, 15)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def test_real_interactive_bash_completes_colon_commands(bash_script: Path) -> None:
    # A unique completion is inserted followed by a space.
    for typed, expected in [
        ("routemq make:con", "routemq make:controller "),
        ("routemq route:", "routemq route:list "),
    ]:
        assert expected in _interactive_bash_line(bash_script, typed, expected)
