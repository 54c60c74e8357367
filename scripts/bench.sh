#!/usr/bin/env bash
# `npm run bench -- NAME [options]`
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh >&2
exec node dist/bench/index.js "$@"
