#!/usr/bin/env bash
# Fails when berth left anything on the host: monitor processes, cgroups,
# overlay mounts or network namespaces made by tests.
set -uo pipefail
found=0
report() {
  echo "berth: left behind: $*" >&2
  found=1
}
pids=$(pgrep -f 'native/build/Release/berth-monitor' || true)
[[ -n $pids ]] && report "berth-monitor processes $(echo $pids)"
cg=$(find /sys/fs/cgroup -maxdepth 3 -type d -iname '*berth*' 2>/dev/null)
[[ -n $cg ]] && report "cgroups: $(echo $cg)"
mounts=$(grep -E 'overlay|berth' /proc/mounts)
[[ -n $mounts ]] && report "mounts: $(echo "$mounts" | cut -d' ' -f2 | tr '\n' ' ')"
netns=$(ip netns list 2>/dev/null | grep -i berth)
[[ -n $netns ]] && report "network namespaces: $(echo $netns)"
exit $found
