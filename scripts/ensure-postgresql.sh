#!/usr/bin/env bash
# Makes sure a local PostgreSQL server is up, for the test suite's
# PostgreSQL runs ([database] connection = postgresql://...). berth itself
# defaults to an embedded SQLite file and needs none of this.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

# The tests' role: a password login works whatever pg_hba.conf says for
# 127.0.0.1 (trust here, scram-sha-256 on a stock Debian cluster).
ensure_role() {
  runuser -u postgres -- psql -qtAX -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'berth') THEN
      CREATE ROLE berth LOGIN CREATEDB PASSWORD 'berth';
    END IF; END \$\$;" >/dev/null
}

if ready; then
  ensure_role
  exit 0
fi
version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
if [[ -z "$version" ]]; then
  echo "berth: no PostgreSQL cluster found under /etc/postgresql" >&2
  exit 1
fi
echo "berth: starting PostgreSQL $version"
pg_ctlcluster --skip-systemctl-redirect "$version" main start
for _ in $(seq 30); do
  if ready; then
    ensure_role
    exit 0
  fi
  sleep 1
done
echo "berth: PostgreSQL did not start; see /var/log/postgresql/" >&2
exit 1
