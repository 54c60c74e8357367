#!/usr/bin/env bash
# After check-leftovers has reported (and failed the run), removes what this
# test run (BERTH_TEST_RUN) left, so that the host is clean for the next.
# Only names carrying the run id are touched (scripts/test-run-things.sh):
# never another run's, nor a berth that runs on the same host.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/test-run-things.sh"

for pid in $(run_processes); do kill -KILL "$pid" 2>/dev/null; done

# A task frozen in one hierarchy cannot die while it is killed in another: thaw
# every cgroup of the run first, then kill, then wait until the kernel has
# emptied each (tasks exit asynchronously) before removing it, children first.
mapfile -t cgroups < <(for parent in $(run_cgroups); do find "$parent" -depth -type d; done)
for dir in "${cgroups[@]}"; do
  [[ -f $dir/freezer.state ]] && echo THAWED >"$dir/freezer.state" 2>/dev/null
  [[ -f $dir/cgroup.freeze ]] && echo 0 >"$dir/cgroup.freeze" 2>/dev/null
done
for dir in "${cgroups[@]}"; do
  while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$dir/cgroup.procs"
done
for dir in "${cgroups[@]}"; do
  for _ in $(seq 100); do
    grep -q . "$dir/cgroup.procs" 2>/dev/null || break
    sleep 0.1
  done
  rmdir "$dir" 2>/dev/null || echo "berth: sweep: could not remove cgroup $dir" >&2
done

for ns in $(run_netns); do ip netns delete "$ns"; done
for link in $(run_links); do ip link delete "$link" 2>/dev/null; done
run_nft_tables | while read -r family table; do nft delete table "$family" "$table"; done
for mount in $(run_mounts); do umount "$mount" 2>/dev/null || umount -l "$mount"; done
for loop in $(run_loops); do losetup -d "/dev/$loop"; done
if have_broker; then
  for vhost in $(run_vhosts); do rabbitmqctl -q delete_vhost "$vhost"; done
  for queue in $(run_queues); do rabbitmqctl -q delete_queue -p / "$queue"; done
  # rabbitmqctl cannot delete exchanges; unbound ones route nothing, and
  # the next run's names differ, so they are only reported.
  [[ -n $(run_exchanges) ]] && echo "berth: sweep: exchanges left in /: $(run_exchanges | tr '\n' ' ')" >&2
fi
for dir in $(run_dirs); do rm -rf --one-file-system "$dir"; done
exit 0
