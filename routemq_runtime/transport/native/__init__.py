"""RouteMQ's own asyncio MQTT client for worker slots (``MQTT_TRANSPORT=native``)."""
