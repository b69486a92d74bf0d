"""Middleware wrapped around handlers (logging, auth, validation, ...)."""
