"""Generators behind ``make:*``: one base class, one small subclass per kind of file."""
