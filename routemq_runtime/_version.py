"""The one version number of both distributions (``routemq-runtime`` and ``routemq-cli``)."""

__version__ = "0.1.0"
