#!/usr/bin/env bash
# Installs what the tests need outside PyPI: Debian's chromium (browser tests)
# and Foundry's anvil from npm (JSON-RPC chain tests). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian chromium (browser tests)..."
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -q || echo "apt-get update failed; trying the install with the cached package lists"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium
fi

if [ ! -x .tools/node_modules/.bin/anvil ]; then
  echo "installing anvil (@foundry-rs/anvil-linux-amd64) from npm..."
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --silent @foundry-rs/anvil-linux-amd64@1.7.1
fi
