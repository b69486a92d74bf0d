"""``stub:publish``: copy the built-in stubs into the app's ``stubs/`` to customise them."""

from __future__ import annotations

from typing import Annotated

import typer

from routemq_cli.commands.app_dir import find_app_dir
from routemq_cli.commands.output import action, fail
from routemq_cli.generators.errors import GeneratorError


def stub_publish(
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite stubs already published.")
    ] = False,
) -> None:
    """Copy the generator stubs into stubs/; make:* then uses your copies."""
    # Inside the command: `routemq --help` builds every command and must stay light.
    from routemq_cli.generators.stubs import APP_STUBS, BUILTIN_STUBS, builtin_stub_names

    try:
        app_dir = find_app_dir()
    except GeneratorError as error:
        fail(error)
    folder = app_dir / APP_STUBS
    folder.mkdir(exist_ok=True)
    written = kept = 0
    for name in builtin_stub_names():
        target = folder / name
        relative = f"{APP_STUBS}/{name}"
        if target.exists() and not force:
            action("KEEP", f"{relative} (exists; --force overwrites)")
            kept += 1
            continue
        verb = "OVERWRITE" if target.exists() else "CREATE"
        target.write_text((BUILTIN_STUBS / name).read_text(encoding="utf-8"), encoding="utf-8")
        action(verb, relative)
        written += 1
    kept_note = f", {kept} kept" if kept else ""
    typer.echo(
        f"Published {written} stub{'s' if written != 1 else ''} to {APP_STUBS}/{kept_note}; "
        "make:* uses these before the built-in ones."
    )
