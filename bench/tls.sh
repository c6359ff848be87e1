#!/usr/bin/env bash
# What TLS costs: `raftline bench` in plaintext and over TLS (mutual TLS between the servers, the
# load clients with certificates: `raftline certs create`), alternately, at each requested
# number of outstanding writes, then each pair's ratios (writes/s, p50, p99, server CPU per write)
# and, over several rounds, their medians. On a shared machine whose speed drifts over minutes,
# the ratio of neighbouring runs is the figure to trust.
#
#   bench/tls.sh [--rounds 3] [--outstanding 256,1] [--duration 10] [--warmup 6] [--size 128]
#
# raftline listens on $RAFTLINE_BASE_PORT.. (default 7101). Results land in $BENCH_OUT (default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 outstanding=256,1 duration=10 warmup=6 size=128
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2 ;;
    --outstanding) outstanding=$2 ;;
    --duration) duration=$2 ;;
    --warmup) warmup=$2 ;;
    --size) size=$2 ;;
    *) echo "tls.sh: unknown flag $1 (--rounds --outstanding --duration --warmup --size)" >&2; exit 2 ;;
  esac
  shift 2
done
case "$rounds" in ''|*[!0-9]*|0) echo "tls.sh: --rounds must be a positive integer, got $rounds" >&2; exit 2 ;; esac
IFS=, read -r -a levels <<<"$outstanding"
for level in "${levels[@]}"; do
  case "$level" in ''|*[!0-9]*|0) echo "tls.sh: --outstanding takes positive integers, got $level" >&2; exit 2 ;; esac
done

npm run -s build
base=${RAFTLINE_BASE_PORT:-7101}
work=$(mktemp -d "${TMPDIR:-/tmp}/raftline-tls-XXXXXX")
out=${BENCH_OUT:-$work}
mkdir -p "$out"
node dist/src/cli/main.js certs create --nodes 3 --out "$work/certs" >/dev/null

echo "workload: 1 client, outstanding ${outstanding}, ${size}-byte values, ${duration} s after ${warmup} s warm-up, fsync on; ${rounds} round(s)"
for round in $(seq 1 "$rounds"); do
  for level in "${levels[@]}"; do
    # Alternate which goes first, so that neither always runs in the other's wake.
    order=(plain tls); [ $((round % 2)) -eq 0 ] && order=(tls plain)
    for side in "${order[@]}"; do
      tls_flag=(); [ "$side" = tls ] && tls_flag=(--tls "$work/certs")
      node dist/src/cli/main.js bench --nodes 3 --outstanding "$level" --size "$size" --duration "$duration" --warmup "$warmup" \
        --base-port "$base" --no-live "${tls_flag[@]}" --json "$out/$side-o$level-r$round.json" >"$out/$side-o$level-r$round.txt"
      echo "round $round, $level outstanding, $side: $(sed -n '2p' "$out/$side-o$level-r$round.txt" | tr -s ' ')"
    done
  done
done
node dist/bench/tls-compare.js "$out" "$rounds" "$outstanding"
rm -rf "$work/certs"
