#!/usr/bin/env bash
# Builds what berth runs: the native addon and helper (node-gyp), the
# TypeScript (tsc) and the busybox test image. Each step is skipped when
# its outputs are newer than its inputs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

newer_than() { # newer_than OUTPUT INPUTS... : true when OUTPUT exists and is newer than all inputs
  local out=$1
  shift
  [[ -e $out ]] && [[ -z $(find "$@" -newer "$out" -print -quit 2>/dev/null) ]]
}

if ! newer_than native/build/Release/berth-monitor native/src native/helper native/unpack native/binding.gyp ||
  ! newer_than native/build/Release/berth-unpack native/unpack native/binding.gyp ||
  ! newer_than native/build/Release/berth_native.node native/src native/helper native/unpack native/binding.gyp; then
  echo "berth: building native addon and helper"
  # Build against the running Node's own headers: node-gyp would otherwise
  # try to download them, and CI machines reach no such server.
  nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  nodedir_arg=()
  [[ -f $nodedir/include/node/node_api.h ]] && nodedir_arg=(--nodedir="$nodedir")
  (cd native && npx --no-install node-gyp rebuild "${nodedir_arg[@]}" --loglevel=error >/dev/null)
fi

if ! newer_than dist/.built cli common config driver native/*.ts messaging nova api bench integration-tests testing tsconfig.json package.json; then
  echo "berth: compiling TypeScript"
  # Into a new directory swapped in whole: tsc never removes the output of a
  # deleted source, and a berth running from dist/ (npm start) keeps its files.
  rm -rf dist.new dist.old
  npx --no-install tsc -p . --outDir dist.new
  chmod +x dist.new/cli/berth.js
  touch dist.new/.built
  [[ -d dist ]] && mv dist dist.old
  mv dist.new dist
  rm -rf dist.old
fi

bash scripts/build-test-image.sh build/images >/dev/null
