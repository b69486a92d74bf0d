"""Command functions: plain typed functions registered in ``routemq_cli.main``.

Each module imports only the standard library and Typer at import time; anything heavier is
imported inside the command that needs it, so every command starts as quickly as the lightest.
"""
