#!/usr/bin/env bash
# Installs and starts what the tests need outside PyPI: Debian's chromium
# (browser tests), PostgreSQL with a `test` database and trust auth on
# 127.0.0.1 (record-store tests), and Foundry's anvil from npm (JSON-RPC chain
# tests). Idempotent: what is already there is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
APT_UPDATED=""
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    $SUDO apt-get update -q || echo "apt-get update failed; trying the cached package lists"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian chromium (browser tests)..."
  apt_install chromium
fi

if ! port_open 5432; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "installing PostgreSQL (record-store tests)..."
    apt_install postgresql
  fi
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! $SUDO grep -q "^host all all 127.0.0.1/32 trust" "$hba"; then
    # Tests connect as postgres@127.0.0.1 without a password, as on the CI machines.
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || $SUDO pg_ctlcluster "$version" main restart
  for _ in $(seq 30); do port_open 5432 && break; sleep 1; done
  if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname = 'test'" | grep -q 1; then
    psql -h 127.0.0.1 -U postgres -c "create database test"
  fi
fi

if [ ! -x .tools/node_modules/.bin/anvil ]; then
  echo "installing anvil (@foundry-rs/anvil-linux-amd64) from npm..."
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --silent @foundry-rs/anvil-linux-amd64@1.7.1
fi
