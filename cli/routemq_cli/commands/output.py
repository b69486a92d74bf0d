"""How commands talk to the user: action lines, summaries and errors that end the command."""

from __future__ import annotations

from typing import NoReturn

import typer

from routemq_cli.generators.errors import GeneratorError

ACTION_COLOURS = {"CREATE": typer.colors.GREEN, "OVERWRITE": typer.colors.YELLOW}


def action(verb: str, path: str) -> None:
    """One ``CREATE path`` line."""
    label = typer.style(verb, fg=ACTION_COLOURS.get(verb, typer.colors.CYAN), bold=True)
    typer.echo(f"{label} {path}")


def fail(error: GeneratorError | str, *, hint: str | None = None, code: int = 1) -> NoReturn:
    """Print ``error: ...`` (and a hint) on stderr and exit non-zero."""
    if isinstance(error, GeneratorError):
        message, hint = error.message, error.hint
    else:
        message = error
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    if hint:
        typer.secho(f"hint: {hint}", fg=typer.colors.YELLOW, err=True)
    raise typer.Exit(code)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, with a bold header line."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    return "\n".join([typer.style(line(headers), bold=True), *(line(row) for row in rows)])
