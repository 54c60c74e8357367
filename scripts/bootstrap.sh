#!/usr/bin/env bash
# Makes a fresh Debian 12 machine ready to build, run and test berth:
# Debian packages, npm dependencies, the native addon and helper, the
# TypeScript build and the test image. Idempotent and quick when nothing
# changed, so `npm start`, `npm test` and `npm run bench` all call it first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "berth: must run as root (containers need namespaces, cgroups and mounts)" >&2
  exit 1
fi

# gcc/g++/make/python3: node-gyp; libc6-dev: the static test probe;
# busybox-static: the test image; crun/runc: benchmark peers; iproute2, tar, util-linux: runtime;
# e2fsprogs, mount: instances' sized root disks;
# rabbitmq-server: the broker; python3-oslo.messaging: the real oslo peer of the messaging tests;
# postgresql: the second database the API suite runs on; python3-openstackclient: the real
# client of the API tests; keystone: the real Keystone the auth_strategy = keystone test runs;
# libnftables-dev: the addon drives nftables in process; dnsmasq-base: DNS and DHCP per network;
# nftables: the tests read rules back with `nft`.
# zlib1g-dev, liblzma-dev, libzstd-dev: the layer unpacker decompresses gzip, xz and zstd itself;
# libssl-dev: berth-unpack hashes layers with libcrypto's sha256 (SHA-NI where the CPU has it);
# attr: the unpack tests read and set xattrs (getfattr, setfattr: trusted.overlay.opaque);
# rsync: snapshots copy an instance's writable layer before and while it is frozen;
# docker-registry, skopeo, umoci, apache2-utils, python3-bcrypt: the real registry of the image
# tests (htpasswd -B for its basic auth) and the peer of the image benchmark;
# glance-api: the real Glance of the image tests; zstd, xz-utils: the tests compress images.
# openssl: the API makes X.509 keypairs with it, as Nova does.
# tempest, heat-api, heat-engine, python3-heatclient, openstack-dashboard, uwsgi,
# uwsgi-plugin-python3, chromium: the real toolchain the OpenStack peer tests drive (Tempest,
# Heat, Horizon served by uwsgi and browsed headless).
packages=(build-essential python3 libc6-dev busybox-static crun runc iproute2 tar util-linux e2fsprogs mount
  rabbitmq-server python3-oslo.messaging postgresql python3-openstackclient keystone
  libnftables-dev dnsmasq-base nftables
  zlib1g-dev liblzma-dev libzstd-dev libssl-dev attr rsync docker-registry skopeo umoci apache2-utils python3-bcrypt
  glance-api zstd xz-utils openssl
  tempest heat-api heat-engine python3-heatclient openstack-dashboard uwsgi uwsgi-plugin-python3 chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "berth: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # These packages enable services of their own; berth's tests start private ones.
  if command -v systemctl >/dev/null; then
    for service in keystone glance-api docker-registry heat-api heat-engine uwsgi apache2; do
      if [[ " ${missing[*]} " == *" $service "* ]]; then
        systemctl disable --now "$service" >/dev/null 2>&1 || true
      fi
    done
  fi
fi

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "berth: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

bash scripts/ensure-rabbitmq.sh
bash scripts/ensure-postgresql.sh

bash scripts/build.sh
