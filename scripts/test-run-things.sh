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
# The network tests' `[network] device_prefix` (integration-tests/fixtures/sim-hosts.ts
# testDevicePrefix): four characters cannot hold the run id, so `t` and its
# first three digits. Devices and nft tables with it are looked for only in
# the host's own namespace, where a test's data plane must never appear (it
# lives in simulated hosts' namespaces, which go with their names below).
run_device_prefix="t${BERTH_TEST_RUN:0:3}"

# Processes whose command line names something of this run: berth-monitor
# (`serve <state dir>/…`), `berth compute --config <run dir>/…`, test peers,
# dnsmasq (pid file under a state directory); and any process living in one
# of this run's network namespaces (a probe server, a DNS server berth
# started detached), whatever its command line.
run_processes() {
  {
    pgrep -f -- "$run_tag"
    run_netns_processes
  } | sort -un
}

# Inodes of this run's network namespaces: named (`ip netns`) and pinned
# under its state directories (instances', routers', DNS namespaces).
run_netns_inodes() {
  local f
  for f in /run/netns/"$run_tag"*; do
    [[ -e $f ]] && stat -L -c %i "$f"
  done
  awk -v tag="/$run_tag" '$3 == "nsfs" && index($2, tag) { print $2 }' /proc/mounts |
    while read -r f; do stat -L -c %i "$f"; done
  return 0
}

run_netns_processes() {
  local inodes p ns
  inodes=" $(run_netns_inodes | sort -u | tr '\n' ' ')"
  [[ $inodes == " " ]] && return 0
  for p in /proc/[0-9]*; do
    # A process that exited (or hides its namespaces) has no link: not ours.
    ns=$(readlink "$p/ns/net" 2>/dev/null) || continue
    ns=${ns//[!0-9]/}
    [[ -n $ns && $inodes == *" $ns "* ]] && echo "${p#/proc/}"
  done
  return 0
}

# Network devices and nft tables with this run's device prefix in the host's namespace.
run_links() {
  ip -o link show 2>/dev/null | awk -F': ' -v p="$run_device_prefix" '{ sub(/@.*/, "", $2) } index($2, p) == 1 { print $2 }'
}
run_nft_tables() { # "family name" per line
  nft list tables 2>/dev/null | awk -v p="$run_device_prefix" 'index($3, p) == 1 { print $2, $3 }'
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
