#!/usr/bin/env bash
# Builds the Debian package gateway_VERSION_ARCH.deb (CPack; dist/packaging.cmake
# says what it holds), installing the Debian packages it needs that are
# missing, as setup.sh does.
#
#   scripts/package.sh              configure and build build-pkg/, the .deb lands there
#   scripts/package.sh build        reuse an existing build tree (only gateway is rebuilt)
#
# Prints the path of the .deb. Install it with: apt install ./build-pkg/gateway_*.deb
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"

BUILD_DIR="${1:-build-pkg}"
OUT_DIR="$ROOT/build-pkg"

setup_packages package
BUILD_TARGETS="gateway gateway-lab gateway_man" build_tree "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGATEWAY_TESTS=OFF
mkdir -p "$OUT_DIR"
cpack --config "$ROOT/$BUILD_DIR/CPackConfig.cmake" -B "$OUT_DIR" >&2
rm -rf "$OUT_DIR/_CPack_Packages"
ls -t "$OUT_DIR"/gateway_*.deb | head -n 1
