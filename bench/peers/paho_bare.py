"""Bare paho-mqtt consumer: the baseline every system is compared with.

The fastest plain configuration measured here: MQTT 3.1.1, ``loop_forever`` in the main thread,
``json.loads`` per message, paho's automatic acknowledgement. No routing, no concurrency: the
I/O-bound and 1,000-route workloads do not apply to it.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import paho.mqtt
import paho.mqtt.client as mqtt
from workload import Tally, burn_cpu, parser, report, wait_for_go


def give_up_when_idle(client: mqtt.Client, tally: Tally, idle: float) -> None:
    while tally.idle_for() < idle:
        time.sleep(1.0)
    client.disconnect()


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    if args.handler == "io" or args.routes != 1 or args.protocol != "3.1.1":
        sys.exit("paho_bare: only the plain and cpu handlers, one route, MQTT 3.1.1")
    tally = Tally.from_args(args)
    cpu = args.handler == "cpu"
    stamped = args.handler == "latency"

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        payload = json.loads(msg.payload)
        if stamped and tally.stamp(payload):
            client.disconnect()
        if cpu:
            burn_cpu()
        if tally.tick():
            client.disconnect()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=args.client_id,
        protocol=mqtt.MQTTv311,
        clean_session=False,
    )
    client.on_message = on_message
    # The session and its subscription exist already: connecting resumes the queued backlog.
    wait_for_go(tally)
    client.connect(args.host, args.port)
    watchdog = threading.Thread(target=give_up_when_idle, args=(client, tally, args.idle))
    watchdog.daemon = True
    watchdog.start()
    client.loop_forever()
    report(tally, paho=paho.mqtt.__version__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
