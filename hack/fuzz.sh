#!/usr/bin/env bash
# make fuzz: runs every Go fuzz target of the project for FUZZTIME each
# (default 60s), one after the other (go test fuzzes one target at a time),
# and prints what each did. A crash fails the run; go test has then written
# the input under the package's testdata/fuzz/<target>/, where plain go
# test (make test) replays it from then on: commit it with the fix.
set -uo pipefail
fuzztime="${FUZZTIME:-60s}"
targets=(
  ./portal/stream:FuzzRFBClient
  ./portal/stream:FuzzRFBServer
  ./portal/stream:FuzzSelkies
  ./agent/gitsync/receiverfuzz:FuzzReceiver
  ./portal/gitwrite:FuzzEditDocument
  ./agent/validate:FuzzRepo
  ./portal/api:FuzzJSONBodies
)
log="$(mktemp -d)"
trap 'rm -rf "$log"' EXIT
failed=0
summary=()
for t in "${targets[@]}"; do
  pkg="${t%%:*}" fn="${t##*:}"
  echo "==> $fn ($pkg) for $fuzztime"
  if go test "$pkg" -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" >"$log/$fn" 2>&1; then
    result=ok
  else
    result=FAILED
    failed=1
    grep -E -- '--- FAIL|Failing input written to|panic:|fuzz_test.go:' "$log/$fn" | head -20
  fi
  last="$(grep -E '^fuzz: elapsed' "$log/$fn" | tail -1)"
  execs="$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")"
  corpus="$(sed -nE 's/.*\(total: ([0-9]+)\).*/\1/p' <<<"$last")"
  summary+=("$(printf '%-18s %-20s %-7s execs %-10s corpus %s' "$fn" "$pkg" "$result" "${execs:-0}" "${corpus:-?}")")
done
echo
echo "Fuzzed ${#targets[@]} targets, $fuzztime each:"
printf '  %s\n' "${summary[@]}"
exit "$failed"
