#!/usr/bin/env bash
# `npm run bench -- NAME [options]`
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh >&2
# Docker is a peer the rpc and api benchmarks measure (bench/docker-peer.ts runs
# a private dockerd); berth itself does not need it, so only benchmarks install it.
if ! command -v dockerd >/dev/null; then
  echo "berth: installing docker.io, the benchmarks' Docker peer" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  if command -v systemctl >/dev/null; then
    systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
  fi
fi
exec node dist/bench/index.js "$@"
