#!/usr/bin/env bash
# `npm test`: bootstrap, then lint, unit tests, integration tests (real
# containers: needs root), and a final check that nothing was left behind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Always a fresh build (scripts/build.sh compiles into a clean dist/): a test file
# deleted from the tree must not run on as a stale .js.
rm -f dist/.built
bash scripts/bootstrap.sh

# This run's id: every name a test makes carries it (integration-tests/harness.ts
# runName), so that the leftover check and the sweep below look only at what this
# run made, never at another run's or a berth running on this host.
BERTH_TEST_RUN=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
export BERTH_TEST_RUN
echo "berth: test run $BERTH_TEST_RUN"

echo "berth: lint"
npx --no-install eslint --max-warnings=0 .
npx --no-install prettier --check --log-level=warn .

mapfile -t unit < <(find dist -name '*.test.js' -not -path 'dist/integration-tests/*' | sort)
mapfile -t integration < <(find dist/integration-tests -name '*.test.js' | sort)

status=0
echo "berth: unit and integration tests"
# One runner for both so that its closing summary counts every test;
# integration files run one at a time because they share the host's kernel.
node --test --test-concurrency=1 --test-reporter=spec "${unit[@]}" "${integration[@]}" || status=$?

if ! bash scripts/check-leftovers.sh; then
  status=1
  bash scripts/sweep-test-leftovers.sh
fi
exit $status
