#!/usr/bin/env bash
# The default run against a remote-style target: `serve --latency MS` holds every answer back
# MS milliseconds (the added round trip). For each RTT: wall time, requests, and the floor
# (the run's longest chain of requests that waited for each other, times the RTT).
# Also the slow-operation target of issue 12: operations done 0.4 s after they start,
# x-operation-poll-interval 1.
# The target has a second account, so the route matrix runs whole; the requests of its
# checkers (the routes:: trials) are printed apart.
# Usage: bash benches/latency.sh [ROUNDS] [RTT_MS ...]     (default: 3 rounds; 0 10 30 100)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
rtts=("$@")
[ ${#rtts[@]} -gt 0 ] || rtts=(0 10 30 100)
cargo build --release --quiet
bin=target/release/accesskey-conformance
work=$(mktemp -d)
servers=()
trap 'kill "${servers[@]}" 2>/dev/null; rm -rf "$work"' EXIT

serve() { # serve NAME ARGS... -> prints the URL
    "$bin" serve --listen 127.0.0.1:0 --token bench-token \
        --alt-token bench-alt-token --alt-account ajebenchaltaccount "${@:2}" >"$work/$1.log" 2>&1 &
    servers+=($!)
    for _ in $(seq 50); do grep -q listening "$work/$1.log" && break; sleep 0.1; done
    sed -n 's/^listening on //p' "$work/$1.log"
}

measure() { # measure LABEL RTT_MS URL
    for round in $(seq "$rounds"); do
        json="$work/run-$round.json"
        start=$(date +%s.%N)
        "$bin" run -q --base-url "$3" --token bench-token --service-account-id ajebenchaccount \
            --alt-token bench-alt-token --alt-service-account-id ajebenchaltaccount \
            --json "$json" >/dev/null 2>&1 || true
        end=$(date +%s.%N)
        python3 - "$json" "$1" "$2" "$start" "$end" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
label, rtt, start, end = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
chain = report["longest_chain"]
matrix = sum(t["requests"] for t in report["trials"] if t["name"].startswith("routes::"))
print(f"{label:>12}  wall {end - start:6.2f} s  requests {report['requests']:5} (matrix {matrix:4})  "
      f"longest chain {chain:3}  floor {chain * rtt / 1000:5.2f} s  verdict {report['verdict']}")
PY
    done
}

for rtt in "${rtts[@]}"; do
    url=$(serve "rtt$rtt" --latency "$rtt")
    measure "RTT ${rtt} ms" "$rtt" "$url"
done
url=$(serve slow-ops --mode async --operation-delay 400 --poll-interval 1)
measure "ops 0.4 s" 0 "$url"
