#!/usr/bin/env bash
# Builds the busybox test image used by integration tests and benchmarks.
#
#   scripts/build-test-image.sh OUTDIR
#
# Produces OUTDIR/busybox.tar (rootfs tarball, root:root, numeric owners) and
# OUTDIR/busybox-rootfs/ (the same tree unpacked, for runtimes that take a
# directory). Skips the build when both outputs are newer than every input.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
script="$script_dir/$(basename "${BASH_SOURCE[0]}")"
probe_src="$script_dir/test-image/probe.c"
busybox=/bin/busybox

mkdir -p "$1"
outdir="$(cd "$1" && pwd -P)"
tarball="$outdir/busybox.tar"
rootfs="$outdir/busybox-rootfs"

# Parallel test runners may all ask for the image at once; let one build it.
# Locking OUTDIR itself avoids leaving a lock file behind.
exec 9<"$outdir"
flock 9

if [[ ! -x $busybox ]]; then
  apt-get install -y busybox-static
fi

up_to_date() {
  local out in
  for out in "$tarball" "$rootfs"; do
    [[ -e $out ]] || return 1
    for in in "$probe_src" "$script" "$busybox"; do
      [[ $out -nt $in ]] || return 1
    done
  done
}

if up_to_date; then
  exit 0
fi

# Build beside the outputs and swap them in at the end, so an interrupted
# build never leaves a half-populated rootfs that looks up to date.
staging="$(mktemp -d "$outdir/.busybox-build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
root="$staging/rootfs"
umask 022

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,run,var}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"

cp "$busybox" "$root/bin/busybox"
# --list-full gives each applet's conventional path, bin/busybox included;
# sbin/init comes from here too, so the image boots busybox init.
while read -r applet; do
  [[ $applet == bin/busybox ]] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -sf /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)

gcc -static -O2 -s -o "$root/usr/bin/probe" "$probe_src"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo 'berth-test' >"$root/etc/hostname"
cat >"$root/etc/hosts" <<'EOF'
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
EOF

# Sorted names and numeric root ownership keep the tarball independent of who
# ran the build and of readdir order.
tar --sort=name --numeric-owner --owner=0 --group=0 -C "$root" -cf "$staging/busybox.tar" .

rm -rf "$rootfs"
mv "$root" "$rootfs"
mv "$staging/busybox.tar" "$tarball"
