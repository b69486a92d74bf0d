from routemq_runtime import Router

from app.controllers.sensor_controller import SensorController
from app.middleware.timing import TimingMiddleware

router = Router()

# A shared route: its worker processes share the messages through the MQTT shared
# subscription $share/<MQTT_GROUP_NAME>/sensors/+/data. QoS 1 messages are acknowledged only
# after the handler succeeded (or the message was dead-lettered).
router.on(
    "sensors/{device_id}/data",
    SensorController.process,
    qos=1,
    shared=True,
    worker_count={{ cookiecutter.worker_count }},
    middleware=[TimingMiddleware],
)
