"""What ``publish`` and ``subscribe`` share: the app's broker settings, and one clear line for
each way a broker can fail to be there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from routemq_cli.commands.app_dir import AppDirNotFound, find_app_dir
from routemq_cli.commands.output import fail

if TYPE_CHECKING:
    from routemq_runtime.config import Config

START_HINT = "start it (e.g. `docker compose up -d mosquitto`) or set MQTT_BROKER/MQTT_PORT"


def app_config() -> Config:
    """Settings as the app in (or above) the working directory reads them; outside an app, the
    environment alone says where the broker is."""
    # The runtime only once the arguments are known good: `--help` stays quick.
    from routemq_runtime.config import Config, ConfigError

    try:
        env_file: Path | None = find_app_dir() / ".env"
    except AppDirNotFound:
        env_file = None
    try:
        return Config.from_env(env_file=env_file)
    except ConfigError as error:
        fail(str(error))


@contextmanager
def reporting_broker_errors(config: Config) -> Iterator[None]:
    """Turn a refused, silent or unreachable broker into one line and exit 1."""
    # paho-mqtt only where a connection is made.
    from routemq_runtime.transport.paho_client import BrokerRefused

    broker = f"{config.mqtt_broker}:{config.mqtt_port}"
    try:
        yield
    except BrokerRefused as error:
        fail(f"broker {broker} refused the connection: {error}")
    except TimeoutError as error:
        fail(f"broker {broker} did not answer: {error}")
    except OSError as error:
        fail(f"cannot reach the broker at {broker}: {error.strerror or error}", hint=START_HINT)
