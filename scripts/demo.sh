#!/usr/bin/env bash
# The main job end to end: create an app with `routemq new`, start it with worker processes
# against a local mosquitto, publish a few readings, show them handled, stop cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ensure_mosquitto
ensure_venv

work=$(mktemp -d -t routemq-demo-XXXXXX)
free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
broker_port=$(free_port)
health_port=$(free_port)
broker_pid="" app_pid="" sub_pid=""
cleanup() {
  for pid in $sub_pid $app_pid $broker_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== routemq new demo (in $work): the app, its git repository and its .venv"
(cd "$work" && routemq new demo --defaults)

echo "== starting mosquitto on 127.0.0.1:$broker_port"
chmod 777 "$work"
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$broker_port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
broker_pid=$!
python - "$broker_port" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close(); break
    except OSError:
        time.sleep(0.05)
PY

echo "== routemq run --workers (the app's own .venv)"
(
  cd "$work/demo"
  export MQTT_BROKER=127.0.0.1 MQTT_PORT=$broker_port ROUTEMQ_HEALTH_PORT=$health_port
  exec .venv/bin/routemq run --workers
) > "$work/app.log" 2>&1 &
app_pid=$!
python - "$health_port" <<'PY'
import sys, time, urllib.request
for _ in range(200):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=0.5) as r:
            if r.status == 200:
                print("   ready:", r.read().decode()[:200]); break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the app did not become ready; see its log")
PY

mosquitto_sub -h 127.0.0.1 -p "$broker_port" -t 'alerts/#' -v -q 1 > "$work/alerts.txt" &
sub_pid=$!
sleep 0.3

echo "== publishing 5 readings to sensors/<device>/data (QoS 1)"
for reading in kitchen:21.5 boiler:64.0 garage:18.0 attic:35.2 cellar:12.1; do
  device=${reading%%:*} temperature=${reading#*:}
  mosquitto_pub -h 127.0.0.1 -p "$broker_port" -q 1 -t "sensors/$device/data" \
    -m "{\"temperature\": $temperature}"
  echo "   sensors/$device/data  {\"temperature\": $temperature}"
done
sleep 1.5

echo "== alerts the handlers published (readings above 30 C)"
sed 's/^/   /' "$work/alerts.txt"
echo "== metrics: messages processed per route"
python - "$health_port" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics").read().decode()
for line in text.splitlines():
    if line.startswith("routemq_messages_processed_total"):
        print("  ", line)
PY

echo "== stopping the app (SIGTERM)"
kill -TERM "$app_pid"
status=0
wait "$app_pid" || status=$?
app_pid=""
echo "   exit code $status"
echo "== app log"
sed 's/^/   /' "$work/app.log" | tail -n 20
[ "$status" -eq 0 ] && grep -q "alerts/boiler" "$work/alerts.txt" && grep -q "alerts/attic" "$work/alerts.txt"
echo "== demo passed; the app is in $work/demo"
