"""Routers: every module here that defines `router` is loaded at start-up."""
