#!/usr/bin/env bash
# Whole-run figures for BENCHMARKS.md: the default suite against the embedded server (wall time,
# requests, generated update steps, peak memory), and the requests a run needs against a
# remote-style target (a separate `serve` process reached by --base-url, one trial thread).
# Usage: bash benches/whole-run.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
cargo build --release --quiet
bin=target/release/accesskey-conformance

echo "== default run against the embedded server, $rounds rounds =="
for _ in $(seq "$rounds"); do
    /usr/bin/time -f "   wall %e s, peak %M KiB" "$bin" run -q 2>&1 | grep -E "^conformance:|wall"
done

echo "== economy against a remote-style target (--test-threads 1) =="
log=$(mktemp)
"$bin" serve --listen 127.0.0.1:0 --token bench-token >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$log")
remote=(run -q --base-url "$url" --token bench-token --service-account-id ajebenchaccount --test-threads 1 --seed 1)
echo "-- must level, generated part off:"
"$bin" "${remote[@]}" --level must --skip properties:: | grep "^conformance:"
echo "-- defaults (24 sequences per property against a URL):"
"$bin" "${remote[@]}" | grep "^conformance:"
