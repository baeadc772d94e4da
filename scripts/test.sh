#!/usr/bin/env bash
# Builds everything (gateway, sample-service, tests, bench tools) twice, as a
# release build and with AddressSanitizer + UndefinedBehaviorSanitizer, and
# runs every test (unit and integration) against both. Installs what is
# missing first. CI runs exactly this (.ci/run).
#
#   scripts/test.sh            all tests, both builds
#   scripts/test.sh -R regex   only the matching tests (passed to ctest)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"
setup_packages test

build_tree build -DCMAKE_BUILD_TYPE=RelWithDebInfo
build_tree build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGATEWAY_SANITIZE=ON

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
for dir in build build-asan; do
  echo "== tests: $dir"
  ctest --test-dir "$ROOT/$dir" -j"$(nproc)" --output-on-failure --timeout 600 "$@" || status=1
done
exit $status
