"""RouteMQ runtime."""
from routemq_runtime._version import __version__

__all__ = ["__version__"]
