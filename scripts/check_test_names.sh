#!/usr/bin/env bash
# CTest learns the doctest cases by name (doctest_discover_tests), and it
# splits a name at ';' into two tests that match no case and pass without
# running anything. So no test name may hold a ';'. Exits 1 naming each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if bad=$(grep -rnE '(TEST_CASE|TEST_CASE_TEMPLATE|SUBCASE|TEST_SUITE)\("[^"]*;' tests); then
  echo "$bad" >&2
  echo "check_test_names: the names above hold ';', which makes CTest skip them silently" >&2
  exit 1
fi
echo "check_test_names: no test name holds ';'"
