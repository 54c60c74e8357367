#!/usr/bin/env bash
# After check-leftovers has reported (and failed the run), removes what a
# crashed test run made, so the next run starts from a clean host. Touches
# only what tests name as theirs: state dirs /tmp/berth-it-*, cgroups
# berth-it-*.
set -uo pipefail
for pid in $(pgrep -f 'berth-monitor serve /tmp/berth-it-' || true); do kill -KILL "$pid" 2>/dev/null; done
for dir in $(find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -name 'berth-it-*' 2>/dev/null); do
  for procs in $(find "$dir" -name cgroup.procs); do
    for p in $(cat "$procs"); do kill -KILL "$p" 2>/dev/null; done
  done
  [[ -f $dir/freezer.state ]] && echo THAWED >"$dir/freezer.state" 2>/dev/null
  sleep 0.2
  find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
done
rm -rf /tmp/berth-it-*
exit 0
