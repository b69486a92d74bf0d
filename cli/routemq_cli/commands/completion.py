"""``completion``: shell completion scripts, including a bash one that copes with ``make:*``.

Bash splits the word being completed at every character of ``COMP_WORDBREAKS``, which includes
``:``, so ``make:con`` reaches a completion function as ``make``, ``:``, ``con``. The bash script
below therefore sends the command line itself (up to the cursor) and, because bash replaces only
the text after the last ``:``, trims what the user already typed before it from each candidate.
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated, Any

import typer

PROG = "routemq"
COMPLETE_VAR = "_ROUTEMQ_COMPLETE"  # Typer's name for it: _{PROG}_COMPLETE
LINE_VAR = "_ROUTEMQ_COMPLETE_ARGS"

BASH_SCRIPT = """\
_routemq_completion() {
    local IFS=$'\\n'
    # The line up to the cursor: COMP_WORDS has "make:controller" split at ':'.
    local line="${COMP_LINE:0:COMP_POINT}"
    COMPREPLY=( $(env %(line_var)s="$line" %(complete_var)s=complete_bash "$1" 2>/dev/null) )
    # Bash replaces only the text after the last COMP_WORDBREAKS ':' in the current word.
    local word="${line##*[[:space:]]}"
    if [[ "$word" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
        local typed="${word%%"${word##*:}"}"
        local i
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]="${COMPREPLY[i]#"$typed"}"
        done
    fi
    return 0
}

complete -o default -F _routemq_completion %(prog)s
"""


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(
    shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh or fish.")],
) -> None:
    """Print a shell completion script.

    bash: eval "$(routemq completion bash)" in ~/.bashrc.
    zsh: eval "$(routemq completion zsh)" in ~/.zshrc (after compinit).
    fish: routemq completion fish > ~/.config/fish/completions/routemq.fish
    """
    typer.echo(completion_script(shell.value))


def completion_script(shell: str) -> str:
    if shell == Shell.bash.value:
        return BASH_SCRIPT % {"prog": PROG, "complete_var": COMPLETE_VAR, "line_var": LINE_VAR}
    from typer.completion import get_completion_script

    return get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell)


def enable_completion() -> None:
    """Register the shells that answer completion requests (``_ROUTEMQ_COMPLETE`` is set)."""
    try:
        from typer._click.shell_completion import add_completion_class, split_arg_string
    except ImportError:  # Typer releases that use Click instead of a vendored copy
        from click.shell_completion import add_completion_class, split_arg_string
    from typer._completion_classes import BashComplete
    from typer.completion import completion_init

    class LineBashComplete(BashComplete):
        """Reads the command line as typed instead of bash's colon-split words."""

        def get_completion_args(self) -> tuple[list[str], str]:
            line = os.environ.get(LINE_VAR, "")
            args = split_arg_string(line)[1:]
            incomplete = ""
            if args and not line[-1:].isspace():
                incomplete = args.pop()
            return args, incomplete

        def source(self) -> str:
            return completion_script("bash")

        def source_vars(self) -> dict[str, Any]:
            return {}

    completion_init()
    add_completion_class(LineBashComplete, Shell.bash.value)
