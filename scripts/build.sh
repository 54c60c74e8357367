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

if ! newer_than native/build/Release/berth-monitor native/src native/helper native/binding.gyp ||
  ! newer_than native/build/Release/berth_native.node native/src native/helper native/binding.gyp; then
  echo "berth: building native addon and helper"
  (cd native && npx --no-install node-gyp rebuild --loglevel=error >/dev/null)
fi

if ! newer_than dist/.built cli config driver native/index.ts messaging api bench integration-tests tsconfig.json package.json; then
  echo "berth: compiling TypeScript"
  npx --no-install tsc -p .
  chmod +x dist/cli/berth.js
  touch dist/.built
fi

bash scripts/build-test-image.sh build/images >/dev/null
