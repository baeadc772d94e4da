#!/usr/bin/env bash
# The layers, checked on the sources: each folder may include (with "...")
# only the folders listed for it. The build enforces the same by linking
# (one library per folder, one unit-test binary per library); this catches
# a header-only include that linking would not see.
#
#   base/       -> base/                      (includes nothing else of ours)
#   upstreams/  -> base/, upstreams/
#   cache/      -> base/, cache/
#   lab/        -> base/, cache/, lab/
#   gateway/    -> anything
#   bench/sample_service -> base/
#   tests/unit/<lib>/    -> what <lib> may use, <lib>, tests/unit/
# Exits 1 and names every offending line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

allowed() {  # allowed FILE -> space-separated folder prefixes
  case "$1" in
    base/*|tests/unit/base/*)                 echo "base/ tests/unit/" ;;
    upstreams/*|tests/unit/upstreams/*)       echo "base/ upstreams/ tests/unit/" ;;
    cache/*|tests/unit/cache/*)               echo "base/ cache/ tests/unit/" ;;
    lab/*|tests/unit/lab/*)                   echo "base/ cache/ lab/ tests/unit/" ;;
    bench/sample_service*)                    echo "base/ bench/" ;;
    *)                                        echo "*" ;;
  esac
}

status=0
checked=0
while IFS= read -r file; do
  rules=$(allowed "$file")
  [[ $rules == "*" ]] && continue
  checked=$((checked + 1))
  while IFS=: read -r line include; do
    target=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"$include")
    ok=0
    for prefix in $rules; do
      [[ $target == "$prefix"* ]] && ok=1
    done
    # A file's own folder, for includes written relative to it.
    [[ $target != */* ]] && ok=1
    if ((ok == 0)); then
      echo "$file:$line: includes \"$target\"; ${file%%/*}/ may include only: $rules" >&2
      status=1
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
done < <(git ls-files --cached --others --exclude-standard 'base/*' 'upstreams/*' 'cache/*' 'lab/*' 'bench/sample_service*' 'tests/unit/*' | grep -E '\.(c|cc|cpp|h|hpp)$')

if ((checked == 0)); then
  echo "check_layers: no source files found (run inside the git checkout)" >&2
  exit 1
fi
((status == 0)) && echo "check_layers: $checked files, every include within its layer"
exit $status
