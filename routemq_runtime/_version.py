"""The one version number of both distributions (``routemq-runtime`` and ``routemq``)."""

__version__ = "0.1.0"
