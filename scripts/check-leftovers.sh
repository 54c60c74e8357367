#!/usr/bin/env bash
# Fails when this test run (BERTH_TEST_RUN) left anything on the host:
# processes (dnsmasq and probe servers included), cgroups, mounts, loop
# devices, network namespaces, network devices and nft tables in the host's
# own namespace, RabbitMQ vhosts, queues or exchanges, state directories. Only names carrying the
# run id are looked at (scripts/test-run-things.sh).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/test-run-things.sh"
found=0
report() { # report WHAT LIST
  [[ -z $2 ]] && return
  echo "berth: left behind: $1: ${2//$'\n'/ }" >&2
  found=1
}
report processes "$(run_processes)"
report cgroups "$(run_cgroups)"
report mounts "$(run_mounts)"
report "loop devices" "$(run_loops)"
report "network namespaces" "$(run_netns)"
report "network devices in the host namespace" "$(run_links)"
report "nft tables in the host namespace" "$(run_nft_tables)"
if have_broker; then
  report "RabbitMQ vhosts" "$(run_vhosts)"
  report "RabbitMQ queues in /" "$(run_queues)"
  report "RabbitMQ exchanges in /" "$(run_exchanges)"
fi
report "state directories" "$(run_dirs)"
exit $found
