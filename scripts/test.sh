#!/usr/bin/env bash
# Builds everything (gateway, sample-service, tests, bench tools) twice, as a
# release build and with AddressSanitizer + UndefinedBehaviorSanitizer, and
# runs every test (unit and integration) against both. Then builds the clang
# fuzz tree and runs every fuzz target briefly (scripts/fuzz.sh --ci: its
# regressions, then 15 s from its seeds). Installs what is missing first. CI
# runs exactly this (.ci/run).
#
#   scripts/test.sh            all tests, both builds, and the fuzz targets
#   scripts/test.sh -R regex   only the matching tests (passed to ctest); no fuzzing
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
if (($# == 0)); then
  echo "== fuzz: every target, ${GATEWAY_FUZZ_SECONDS:-15} s each"
  "$ROOT/scripts/fuzz.sh" --ci "${GATEWAY_FUZZ_SECONDS:-15}" || status=1
fi
exit $status
