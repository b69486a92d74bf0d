from dataclasses import dataclass
from typing import Any, TypedDict

from routemq_runtime import Controller


@dataclass
class Reading:
    """The body of a ``sensors/{device_id}/data`` message, e.g. ``{"temperature": 21.5}``."""

    temperature: float
    humidity: float | None = None


class Summary(TypedDict):
    device_id: str
    temperature: float


class SensorController(Controller):
    """Handles sensor readings published to ``sensors/{device_id}/data``."""

    # Readings above this temperature (degrees Celsius) raise an alert.
    ALERT_ABOVE = 30.0

    async def process(self, device_id: str, payload: Reading, client: Any) -> Summary:
        """Publish an alert when a reading is too hot, return a summary.

        ``device_id`` comes from the topic and ``client`` publishes. ``payload`` is the JSON
        body converted to a ``Reading``: a body that does not fit (no temperature, text where a
        number belongs) never gets here; the worker dead-letters it at once with its field
        errors, as retrying cannot fix it. An exception raised here makes the worker retry the
        message and, when retries run out, dead-letter it. The return value answers MQTT 5
        requests: it is published to the request's Response Topic.
        """
        temperature = payload.temperature
        if temperature > self.ALERT_ABOVE:
            client.publish(
                f"alerts/{device_id}",
                {"device_id": device_id, "temperature": temperature},
                qos=1,
            )
            self.logger.warning("device %s is too hot: %.1f", device_id, temperature)
        return {"device_id": device_id, "temperature": temperature}
