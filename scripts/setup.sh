#!/usr/bin/env bash
# Installs the Debian 12 packages the gateway needs that are missing, then
# configures and builds. Sourced by demo.sh and test.sh; safe to run alone.
#
#   scripts/setup.sh [build|test|bench|package]   which package set (default: build)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

BUILD_PKGS=(cmake make g++ pkg-config libboost1.81-dev node-llhttp libcurl4-openssl-dev
            libhiredis-dev libyaml-cpp-dev doctest-dev zlib1g-dev curl libssl-dev openssl libnghttp2-dev
            libc-ares-dev libsystemd-dev
            libre2-dev libcrypt-dev libbrotli-dev)  # rewrites (RE2), htpasswd hashes (crypt_rn), br
# clang and its runtime (libFuzzer) build the fuzz tree (scripts/fuzz.sh).
FUZZ_PKGS=(clang libclang-rt-14-dev)
# The .deb (scripts/package.sh, tests/package_test.sh): dpkg-shlibdeps
# computes Depends, systemd-analyze verifies the unit.
PACKAGE_PKGS=(dpkg-dev systemd gzip)
# python3-matplotlib: gateway-lab's --plot (and its test).
TEST_PKGS=(redis-server chromium python3 python3-matplotlib nghttp2-client "${FUZZ_PKGS[@]}" "${PACKAGE_PKGS[@]}")
BENCH_PKGS=(wrk nginx varnish haproxy nghttp2-client openssl linux-perf)

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "setup: installing ${missing[*]}" >&2
  local sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build_tree DIR [cmake args...]: configure (once) and build; everything,
# or only the targets listed in $BUILD_TARGETS.
build_tree() {
  local dir="$1"; shift
  # Configured every time, not only when new: a tree made by an older
  # checkout does not know targets added since (make: "No rule to make
  # target"), and a re-configure that changes nothing takes a second.
  cmake -S "$ROOT" -B "$ROOT/$dir" "$@" >/dev/null
  local targets=()
  for t in ${BUILD_TARGETS:-}; do targets+=(--target "$t"); done
  cmake --build "$ROOT/$dir" -j"$(nproc)" "${targets[@]}"
}

setup_packages() {
  case "${1:-build}" in
    build) install_missing "${BUILD_PKGS[@]}" ;;
    test)  install_missing "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" ;;
    bench) install_missing "${BUILD_PKGS[@]}" "${BENCH_PKGS[@]}" ;;
    package) install_missing "${BUILD_PKGS[@]}" "${PACKAGE_PKGS[@]}" ;;
    *) echo "setup: unknown set '$1' (build|test|bench|package)" >&2; return 2 ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  setup_packages "${1:-build}"
  build_tree build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
