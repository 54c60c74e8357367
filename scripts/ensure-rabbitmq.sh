#!/usr/bin/env bash
# Makes sure the local RabbitMQ broker is up: the messaging integration tests
# talk to it, and on a fresh container there is no init system to start it.
set -euo pipefail

if rabbitmqctl -q status >/dev/null 2>&1; then
  exit 0
fi
echo "berth: starting RabbitMQ"
rabbitmq-server -detached
# await_startup fails at once while the node is still booting its VM, so retry it.
for _ in $(seq 60); do
  if rabbitmqctl -q await_startup --timeout 10 >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "berth: RabbitMQ did not start; see /var/log/rabbitmq/" >&2
exit 1
