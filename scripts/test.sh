#!/usr/bin/env bash
# `npm test`: bootstrap, then lint, unit tests, integration tests (real
# containers: needs root), and a final check that nothing was left behind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh

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
