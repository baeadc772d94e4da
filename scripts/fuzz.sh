#!/usr/bin/env bash
# Builds the clang fuzz tree (build-fuzz/, GATEWAY_FUZZ=ON: ASan + UBSan +
# libFuzzer) and runs the fuzz targets of fuzz/ (see fuzz/README.md).
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]
#       Fuzzes one target, starting from its seeds (fuzz/corpus/TARGET) and
#       what earlier runs found (build-fuzz/corpus/TARGET, where new inputs
#       go: the tree's corpus is never written). Crashes, leaks, timeouts
#       and out-of-memory inputs land in build-fuzz/artifacts/TARGET/. Ends
#       with executions, exec/s, coverage and findings.
#   scripts/fuzz.sh --ci [SECONDS]
#       What scripts/test.sh runs: every target replays its regressions
#       (fuzz/regressions/TARGET/) once, then fuzzes SECONDS (default 15)
#       from its seeds alone, new inputs in a scratch directory. Fails if
#       any target crashes.
#   scripts/fuzz.sh --list
#
# Targets: request_parser response_parser template config entry json resp proxy_protocol trace
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"

TARGETS=(request_parser response_parser template config entry json resp proxy_protocol trace)
TREE=build-fuzz
OUT="$ROOT/$TREE"

usage() {
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

known_target() {
  local t
  for t in "${TARGETS[@]}"; do [[ "$t" == "$1" ]] && return 0; done
  return 1
}

dictionary() {
  case "$1" in
    request_parser | response_parser) echo "$ROOT/fuzz/dict/http.dict" ;;
    *) echo "$ROOT/fuzz/dict/$1.dict" ;;
  esac
}

build() {
  install_missing "${BUILD_PKGS[@]}" "${FUZZ_PKGS[@]}"
  BUILD_TARGETS="$*" build_tree "$TREE" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DGATEWAY_FUZZ=ON
}

# The libFuzzer flags every run uses: a slow input (10 s) is a finding, and
# so is one that needs more than 2 GiB.
common_flags() {
  local t="$1"
  echo "-dict=$(dictionary "$t") -timeout=10 -rss_limit_mb=2048 -artifact_prefix=$OUT/artifacts/$t/"
}

# summary TARGET LOG: the figures of one run, from libFuzzer's output.
summary() {
  local t="$1" log="$2"
  local execs rate status_line
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  status_line=$(grep -E '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -1 || true)
  echo "== fuzz $t"
  echo "executions:  ${execs:-?}"
  echo "exec/s:      ${rate:-?}"
  echo "final:       ${status_line:-?}"
  echo "new inputs:  $(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)"
  echo "peak RSS:    $(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1) MB"
  local findings
  findings=$(grep -E '^(==[0-9]+== ?ERROR|SUMMARY|fuzz: |artifact_prefix=)' "$log" || true)
  if [[ -n "$findings" ]]; then
    echo "findings:"
    echo "$findings" | sed 's/^/  /'
  else
    echo "findings:    none"
  fi
  echo "log:         $log"
}

fuzz_one() {
  local name="$1" seconds="$2"
  shift 2
  known_target "$name" || { echo "fuzz: unknown target '$name' (${TARGETS[*]})" >&2; exit 2; }
  [[ "$seconds" =~ ^[0-9]+$ ]] || usage
  build "${name}_fuzz"
  mkdir -p "$OUT/corpus/$name" "$OUT/artifacts/$name" "$OUT/logs"
  local log
  log="$OUT/logs/$name-$(date +%Y%m%d-%H%M%S).log"
  local rc=0
  # shellcheck disable=SC2046
  (cd "$OUT" && "$OUT/fuzz/${name}_fuzz" "$OUT/corpus/$name" "$ROOT/fuzz/corpus/$name" $(common_flags "$name") \
    -max_total_time="$seconds" -print_final_stats=1 "$@") >"$log" 2>&1 || rc=$?
  summary "$name" "$log"
  return $rc
}

# The bounded run for CI: regressions, then a short fuzz from the seeds.
ci() {
  local seconds="${1:-15}"
  [[ "$seconds" =~ ^[0-9]+$ ]] || usage
  local targets=() name status=0
  for name in "${TARGETS[@]}"; do targets+=("${name}_fuzz"); done
  build "${targets[@]}"
  for name in "${TARGETS[@]}"; do
    local bin="$OUT/fuzz/${name}_fuzz" scratch="$OUT/ci-corpus/$name" log="$OUT/logs/ci-$name.log"
    rm -rf "$scratch"
    mkdir -p "$scratch" "$OUT/artifacts/$name" "$OUT/logs"
    local regressions=()
    if [[ -d "$ROOT/fuzz/regressions/$name" ]]; then
      mapfile -t regressions < <(find "$ROOT/fuzz/regressions/$name" -type f ! -name '*.md' | sort)
    fi
    for input in "${regressions[@]}"; do
      if ! "$bin" $(common_flags "$name") "$input" >"$log" 2>&1; then
        echo "== fuzz $name: regression ${input#"$ROOT/"} fails" >&2
        grep -E '^(fuzz: |==[0-9]+== ?ERROR|SUMMARY|    #[0-9]+ .* in gateway::)' "$log" | head -8 >&2
        status=1
      fi
    done
    # shellcheck disable=SC2046
    if ! "$bin" "$scratch" "$ROOT/fuzz/corpus/$name" $(common_flags "$name") -max_total_time="$seconds" \
        -print_final_stats=1 >"$log" 2>&1; then
      status=1
    fi
    summary "$name" "$log" | sed -n '1,4p;/^findings/,$p'
  done
  return $status
}

case "${1:-}" in
  --ci) shift; ci "$@" ;;
  --list) printf '%s\n' "${TARGETS[@]}" ;;
  "" | -h | --help) usage ;;
  *) [[ $# -ge 2 ]] || usage; fuzz_one "$@" ;;
esac
