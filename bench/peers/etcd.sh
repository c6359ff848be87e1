#!/usr/bin/env bash
# The side-by-side benchmark: the same workload against a local 3-member etcd cluster (Debian's
# etcd-server, installed with apt-get when missing) and against raftline, both on loopback with
# fsync on, then both results and their ratio.
#
#   bench/peers/etcd.sh [--clients 1] [--outstanding 256] [--size 128] [--duration 10] [--warmup 2] [--reads 0] [--keys 100000]
#
# Ports: etcd clients on $ETCD_BASE_PORT.. (+2), its peers on $ETCD_BASE_PORT+10.. (default 23790);
# raftline on $RAFTLINE_BASE_PORT.. (default 7101). Results land in $BENCH_OUT (default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/../.."

clients=1 outstanding=256 size=128 duration=10 warmup=2 reads=0 keys=100000
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients=$2 ;;
    --outstanding) outstanding=$2 ;;
    --size) size=$2 ;;
    --duration) duration=$2 ;;
    --warmup) warmup=$2 ;;
    --reads) reads=$2 ;;
    --keys) keys=$2 ;;
    *) echo "etcd.sh: unknown flag $1 (--clients --outstanding --size --duration --warmup --reads --keys)" >&2; exit 2 ;;
  esac
  shift 2
done

if ! command -v etcd >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update && $sudo apt-get install -y etcd-server
fi
npm run -s build

etcd_base=${ETCD_BASE_PORT:-23790}
raftline_base=${RAFTLINE_BASE_PORT:-7101}
work=$(mktemp -d "${TMPDIR:-/tmp}/raftline-etcd-XXXXXX")
out=${BENCH_OUT:-$work}
mkdir -p "$out"
pids=()
stop_etcd() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() { stop_etcd; rm -rf "$work/data"; }
trap cleanup EXIT

cluster="" endpoints=""
for i in 1 2 3; do
  cluster+="${cluster:+,}e$i=http://127.0.0.1:$((etcd_base + 9 + i))"
  endpoints+="${endpoints:+,}http://127.0.0.1:$((etcd_base + i - 1))"
done
for i in 1 2 3; do
  etcd --name "e$i" --data-dir "$work/data/e$i" \
    --listen-client-urls "http://127.0.0.1:$((etcd_base + i - 1))" --advertise-client-urls "http://127.0.0.1:$((etcd_base + i - 1))" \
    --listen-peer-urls "http://127.0.0.1:$((etcd_base + 9 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_base + 9 + i))" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token raftline-bench \
    --logger zap --log-level error >"$work/etcd-e$i.log" 2>&1 &
  pids+=($!)
done

common=(--clients "$clients" --outstanding "$outstanding" --size "$size" --duration "$duration" --warmup "$warmup" --reads "$reads" --keys "$keys")
echo "workload: ${clients} client(s) x ${outstanding} outstanding, ${size}-byte values, ${duration} s after ${warmup} s warm-up, reads ${reads}, fsync on"
node dist/bench/peers/etcd-load.js --endpoints "$endpoints" "${common[@]}" --json "$out/etcd.json"
stop_etcd
node dist/src/cli/main.js bench --nodes 3 "${common[@]}" --base-port "$raftline_base" --no-live --json "$out/raftline.json" >"$out/raftline.txt"
sed -n '1,3p' "$out/raftline.txt"
node -e '
const [etcd, raftline] = process.argv.slice(1).map((file) => JSON.parse(require("fs").readFileSync(file, "utf8")));
const row = (name, r) => `${name.padEnd(9)} ${String(r.writesPerSecond).padStart(9)} writes/s   p50 ${r.latencyMs.p50} ms   p99 ${r.latencyMs.p99} ms   max ${r.latencyMs.max} ms`;
console.log("");
console.log(row("etcd", etcd));
console.log(row("raftline", raftline));
console.log(`ratio     ${(raftline.writesPerSecond / Math.max(1, etcd.writesPerSecond)).toFixed(1)}x the writes/s of etcd; p50 ${(raftline.latencyMs.p50 / etcd.latencyMs.p50).toFixed(2)}x, p99 ${(raftline.latencyMs.p99 / etcd.latencyMs.p99).toFixed(2)}x its latency`);
' "$out/etcd.json" "$out/raftline.json"
echo "results: $out/etcd.json $out/raftline.json"
