#!/usr/bin/env bash
# `npm start`: bootstrap, then run berth. Until the compute service exists
# this takes a demo container on the test image through its lifecycle.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
exec node dist/cli/berth.js demo "$@"
