#!/usr/bin/env bash
# Installs every Debian package FerryMQ's build, tests, benchmarks and tools need.
# Idempotent: packages already present are skipped; `apt-get update` runs only
# when something is missing. Needs root (or sudo) when it has to install.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries (see docs/architecture.md for why each is here)
  libuv1-dev libssl-dev libjansson-dev libcurl4-openssl-dev
  libmicrohttpd-dev libyaml-dev
  # tools the tests, benchmarks and demo drive
  mosquitto mosquitto-clients python3 python3-paho-mqtt haproxy gnuplot-nox
  nftables iproute2 procps
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts the mosquitto service on install; our tests and benchmarks
# start their own brokers on their own ports, so the system one is not needed.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
