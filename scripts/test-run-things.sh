# shellcheck shell=bash
# Sourced by check-leftovers.sh and sweep-test-leftovers.sh: what one test
# run made on the host, found by the run id that every name it makes carries
# (integration-tests/harness.ts runName: berth-it-<run>-<kind>-<unique>).
# Nothing without that id is ever listed, so a berth that runs on the same
# host (cgroup parent `berth`, /var/lib/berth) and another engineer's test
# run are left alone.

if [[ ! ${BERTH_TEST_RUN:-} =~ ^[0-9a-f]+$ ]]; then
  echo "berth: BERTH_TEST_RUN must name the test run (hex), got '${BERTH_TEST_RUN:-}'" >&2
  exit 2
fi
run_tag="berth-it-$BERTH_TEST_RUN-"

# Processes whose command line names something of this run: berth-monitor
# (`serve <state dir>/…`), `berth compute --config <run dir>/…`, test peers.
run_processes() {
  pgrep -f -- "$run_tag" || true
}

# Cgroup parents of this run under every hierarchy: v1 controllers
# (/sys/fs/cgroup/<controller>/<parent>), the hybrid cgroup2 mount
# (/sys/fs/cgroup/unified/<parent>) and pure v2 (/sys/fs/cgroup/<parent>).
run_cgroups() {
  find /sys/fs/cgroup -maxdepth 3 -type d -name "$run_tag*" -prune 2>/dev/null
}

# Mount points under this run's directories (overlay root file systems,
# loop-mounted root disks, bind-mounted netns files), deepest first.
run_mounts() {
  awk -v tag="/$run_tag" 'index($2, tag) { print length($2), $2 }' /proc/mounts | sort -rn | cut -d' ' -f2-
}

# Loop devices whose backing file is under this run's directories.
run_loops() {
  local f
  for f in /sys/block/loop*/loop/backing_file; do
    [[ -r $f ]] && grep -q -- "/$run_tag" "$f" && basename "$(dirname "$(dirname "$f")")"
  done
  return 0
}

run_netns() {
  ip netns list 2>/dev/null | awk -v tag="$run_tag" 'index($1, tag) == 1 { print $1 }'
}

# RabbitMQ vhosts of this run, and queues and exchanges it declared in the
# default vhost (the messaging tests use it on purpose, names carrying the run id).
have_broker() { command -v rabbitmqctl >/dev/null && timeout 30 rabbitmqctl -q status >/dev/null 2>&1; }
run_vhosts() { timeout 60 rabbitmqctl -q list_vhosts name 2>/dev/null | grep -- "^$run_tag" || true; }
run_queues() { timeout 60 rabbitmqctl -q list_queues -p / name 2>/dev/null | grep -- "$run_tag" || true; }
run_exchanges() { timeout 60 rabbitmqctl -q list_exchanges -p / name 2>/dev/null | grep -- "$run_tag" || true; }

# This run's state directories (harness.ts tempStateDir).
run_dirs() {
  find "${TMPDIR:-/tmp}" -maxdepth 1 -name "$run_tag*" 2>/dev/null
}
