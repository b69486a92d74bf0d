"""The routemq command."""
