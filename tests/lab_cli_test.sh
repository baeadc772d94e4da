#!/usr/bin/env bash
# gateway-lab as a user runs it: argument mistakes exit 2 with a message
# naming the option, bad input exits 1 naming file:line or file:offset, and
# synth -> replay -> mrc --plot works end to end in every output format.
#
#   tests/lab_cli_test.sh PATH/TO/gateway-lab
set -uo pipefail
LAB="$1"
DIR=$(mktemp -d /tmp/lab_cli_test.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect STATUS MESSAGE ARGS...: runs the lab, checks its exit status and that stderr holds MESSAGE.
expect() {
  local status="$1" message="$2"; shift 2
  "$LAB" "$@" >"$DIR/out" 2>"$DIR/err"
  local got=$?
  [[ $got == "$status" ]] || fail "gateway-lab $*: exit $got, expected $status ($(head -c 300 "$DIR/err"))"
  grep -qF -- "$message" "$DIR/err" || fail "gateway-lab $*: stderr lacks '$message': $(head -c 300 "$DIR/err")"
}

expect 2 "no command given"
expect 2 "unknown command 'simulate'" simulate
expect 2 "replay: no trace file given" replay
expect 2 "--policy: 'fifo'" replay t --policy fifo
expect 2 "--admission: 'min_uses:x'" replay t --admission min_uses:x
expect 2 "--size: '0%' is not a percentage" replay t --size 0%
expect 2 "unknown option --color" mrc t --color
expect 2 "synth: -o FILE is required" synth zipf
expect 2 "usage: gateway-lab replay" replay t --size

expect 1 "$DIR/missing.bin: cannot open" replay "$DIR/missing.bin"
printf 'time,key,size\n1,a,100\n2,b\n' >"$DIR/bad.csv"
expect 1 "$DIR/bad.csv:3: expected time,key,size[,ttl], got 2 fields" replay "$DIR/bad.csv"
printf 'GWTRACE1' >"$DIR/short.bin"
expect 1 "$DIR/short.bin:0: too short for a trace header" replay "$DIR/short.bin"

expect 0 "wrote 20000 requests" synth zipf --requests 20000 --objects 4000 --seed 1 -o "$DIR/z.trace"
expect 0 "wrote 20000 requests" synth scan --requests 20000 --objects 4000 --seed 1 --format csv -o "$DIR/s.csv"
cmp -s "$DIR/z.trace" <("$LAB" synth zipf --requests 20000 --objects 4000 --seed 1 -o /dev/stdout 2>/dev/null) ||
  fail "synth with the same seed wrote different bytes"

"$LAB" replay "$DIR/z.trace" "$DIR/s.csv" --policy lru,sieve --size 1%,10% --admission none,tinylfu \
  >"$DIR/table" 2>"$DIR/err" || fail "replay (table): $(cat "$DIR/err")"
grep -q "total: 8 simulations, 320000 requests" "$DIR/table" || fail "replay table: $(cat "$DIR/table")"
"$LAB" replay "$DIR/z.trace" --format csv --size 5% >"$DIR/csv" || fail "replay (csv)"
[[ $(wc -l <"$DIR/csv") == 4 ]] || fail "replay csv: expected a header and 3 rows: $(cat "$DIR/csv")"
"$LAB" replay "$DIR/z.trace" --format json --policy s3fifo --size 64MiB >"$DIR/json" || fail "replay (json)"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["results"]) == 1, d' "$DIR/json" ||
  fail "replay json: $(cat "$DIR/json")"

if python3 -c 'import matplotlib' 2>/dev/null || /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  "$LAB" mrc "$DIR/z.trace" --points 5 --sample 0.2 --plot "$DIR/mrc.png" >"$DIR/mrc" 2>"$DIR/err" ||
    fail "mrc --plot: $(cat "$DIR/err")"
  grep -q "measured error against exact" "$DIR/mrc" || fail "mrc: no error stated: $(cat "$DIR/mrc")"
  [[ $(head -c 8 "$DIR/mrc.png" | od -An -c | tr -d ' ') == '211PNG\r\n032\n' ]] || fail "mrc --plot: no PNG written"
else
  expect 1 "python3-matplotlib" mrc "$DIR/z.trace" --points 3 --plot "$DIR/mrc.png"
fi

((failures == 0)) && echo "lab cli: all checks passed"
exit $((failures > 0))
