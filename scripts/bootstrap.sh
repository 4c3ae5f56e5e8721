#!/usr/bin/env bash
# Installs every Debian package the project needs. Idempotent: when all
# packages are already installed it only runs dpkg-query and exits.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap bazel-platforms bazel-rules-java
  g++ clang clang-format libclang-rt-14-dev pkg-config
  libboost-dev libboost-fiber-dev libboost-context-dev
  libhwloc-dev dpdk-dev libdpdk-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libfmt-dev nlohmann-json3-dev
  libpcap-dev liburcu-dev iproute2 ethtool python3
  gnuplot-nox parallel
  libtomlplusplus-dev libcpp-httplib-dev dpdk-doc traceroute iputils-ping curl
)

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "bootstrap: not root and sudo not found; cannot install: ${missing[*]}" >&2
    exit 1
  fi
fi

log=$(mktemp "${TMPDIR:-/tmp}/netisr-bootstrap.XXXXXX")
trap 'rm -f "$log"' EXIT
if ! "${SUDO[@]}" apt-get update -qq >"$log" 2>&1; then
  cat "$log" >&2
  echo "bootstrap: warning: apt-get update failed; trying install anyway" >&2
fi
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  cat "$log" >&2
  still=()
  for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still+=("$pkg")
  done
  echo "bootstrap: ERROR: apt-get install failed; could not install: ${still[*]:-${missing[*]}}" >&2
  exit 1
fi

still=()
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || still+=("$pkg")
done
if [[ ${#still[@]} -ne 0 ]]; then
  echo "bootstrap: ERROR: could not install: ${still[*]}" >&2
  exit 1
fi
echo "bootstrap: installed: ${missing[*]}"
