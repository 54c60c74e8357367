#!/usr/bin/env bash
# `npm start`: bootstrap (packages, RabbitMQ, build, test image), then run
# berth all-in-one — the Nova API, image API, scheduler, conductor and a
# compute node for this host — boot one demo server through the API, print
# it, and keep serving until Ctrl-C. Extra arguments go to berth.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
config=${BERTH_CONFIG:-/etc/berth/berth.conf}
if [[ ! -f "$config" ]]; then
  mkdir -p "$(dirname "$config")"
  cp config/berth.conf.sample "$config"
  echo "berth: wrote $config from config/berth.conf.sample"
fi
exec node dist/cli/berth.js all-in-one --config "$config" --boot-demo build/images/busybox.tar "$@"
