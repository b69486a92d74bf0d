from typing import Any

from routemq_runtime import Controller


class SensorController(Controller):
    """Handles sensor readings published to ``sensors/{device_id}/data``."""

    # Readings above this temperature (degrees Celsius) raise an alert.
    ALERT_ABOVE = 30.0

    async def process(self, device_id: str, payload: Any, client: Any) -> dict[str, Any]:
        """Validate a reading, publish an alert when it is too hot, return a summary.

        ``device_id`` comes from the topic, ``payload`` is the decoded JSON body and
        ``client`` publishes. An exception here makes the worker retry the message and, when
        retries run out, send it to the dead-letter topic.
        """
        if not isinstance(payload, dict) or "temperature" not in payload:
            raise ValueError(f"reading from {device_id!r} has no temperature: {payload!r}")
        temperature = float(payload["temperature"])
        if temperature > self.ALERT_ABOVE:
            client.publish(
                f"alerts/{device_id}",
                {"device_id": device_id, "temperature": temperature},
                qos=1,
            )
            self.logger.warning("device %s is too hot: %.1f", device_id, temperature)
        return {"device_id": device_id, "temperature": temperature}
