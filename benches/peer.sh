#!/usr/bin/env bash
# Side by side with the closest peer, Schemathesis (property-based API testing from an
# OpenAPI document): both against the same `serve --latency RTT_MS` target, in turn, ROUNDS
# times; the wall time of each and the ratio. Schemathesis is installed from PyPI into
# target/peer-venv (pinned below) and driven with benches/openapi.yaml, our own description
# of the REST surface, with its defaults. Not part of CI.
# Usage: bash benches/peer.sh [ROUNDS] [RTT_MS]      (default: 3 rounds, 30 ms)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
rtt=${2:-30}
peer_version=4.32.5
cargo build --release --quiet
bin=target/release/accesskey-conformance
venv=target/peer-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$peer_version"
fi
log=$(mktemp)
"$bin" serve --listen 127.0.0.1:0 --token bench-token --latency "$rtt" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$log")

now() { date +%s.%N; }
ours=(); theirs=()
for round in $(seq "$rounds"); do
    a=$(now)
    "$bin" run -q --base-url "$url" --token bench-token --service-account-id ajebenchaccount \
        >/dev/null 2>&1 || true
    b=$(now)
    "$venv/bin/schemathesis" run benches/openapi.yaml --url "$url" \
        -H "Authorization: Bearer bench-token" >/dev/null 2>&1 || true
    c=$(now)
    ours+=("$(python3 -c "print($b - $a)")"); theirs+=("$(python3 -c "print($c - $b)")")
    printf 'round %d: accesskey-conformance %6.2f s, schemathesis %6.2f s\n' \
        "$round" "${ours[-1]}" "${theirs[-1]}"
done
python3 - "${ours[*]}" "${theirs[*]}" "$rtt" <<'PY'
import statistics, sys
ours = [float(x) for x in sys.argv[1].split()]
theirs = [float(x) for x in sys.argv[2].split()]
a, b = statistics.median(ours), statistics.median(theirs)
print(f"RTT {sys.argv[3]} ms, medians: accesskey-conformance {a:.2f} s, schemathesis {b:.2f} s; "
      f"schemathesis / accesskey-conformance = {b / a:.1f}")
PY
