#!/usr/bin/env bash
# The side-by-side benchmark: the same workload against a local 3-member etcd cluster (Debian's
# etcd-server, installed with apt-get when missing) and against raftline, both on loopback with
# fsync on, then both results and their ratio.
#
#   bench/peers/etcd.sh [--clients 1] [--outstanding 256] [--size 128] [--duration 10] [--warmup 8] [--reads 0] [--keys 100000]
#                       [--actors workers|inline] [--rounds 1] [--read-modes linearizable[,lease,follower,stale]]
#
# With --reads, reads/s and read latency are reported beside the writes'. etcd's reads are its
# linearizable ones; --read-modes runs raftline once per listed read mode in each round (after
# etcd's run), each against that round's etcd figures.
#
# --actors is raftline's own setting; the workload stays the same. --rounds N alternates the two N
# times (etcd, raftline, etcd, raftline, ...) and prints each round's ratio and their median: on a
# shared machine whose speed drifts over minutes, the ratio of neighbouring runs is the figure to
# trust.
#
# Ports: etcd clients on $ETCD_BASE_PORT.. (+2), its peers on $ETCD_BASE_PORT+10.. (default 23790);
# raftline on $RAFTLINE_BASE_PORT.. (default 7101). Results land in $BENCH_OUT (default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/../.."

clients=1 outstanding=256 size=128 duration=10 warmup=8 reads=0 keys=100000 actors=workers rounds=1 read_modes=linearizable
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients=$2 ;;
    --outstanding) outstanding=$2 ;;
    --size) size=$2 ;;
    --duration) duration=$2 ;;
    --warmup) warmup=$2 ;;
    --reads) reads=$2 ;;
    --keys) keys=$2 ;;
    --actors) actors=$2 ;;
    --rounds) rounds=$2 ;;
    --read-modes) read_modes=$2 ;;
    *) echo "etcd.sh: unknown flag $1 (--clients --outstanding --size --duration --warmup --reads --keys --actors --rounds --read-modes)" >&2; exit 2 ;;
  esac
  shift 2
done
case "$actors" in workers|inline) ;; *) echo "etcd.sh: --actors must be workers or inline, got $actors" >&2; exit 2 ;; esac
case "$rounds" in ''|*[!0-9]*|0) echo "etcd.sh: --rounds must be a positive integer, got $rounds" >&2; exit 2 ;; esac
IFS=, read -r -a modes <<<"$read_modes"
for mode in "${modes[@]}"; do
  case "$mode" in linearizable|lease|follower|stale) ;; *) echo "etcd.sh: --read-modes takes linearizable, lease, follower, stale; got $mode" >&2; exit 2 ;; esac
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
start_etcd() {
  rm -rf "$work/data"
  for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$work/data/e$i" \
      --listen-client-urls "http://127.0.0.1:$((etcd_base + i - 1))" --advertise-client-urls "http://127.0.0.1:$((etcd_base + i - 1))" \
      --listen-peer-urls "http://127.0.0.1:$((etcd_base + 9 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_base + 9 + i))" \
      --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token raftline-bench \
      --logger zap --log-level error >"$work/etcd-e$i.log" 2>&1 &
    pids+=($!)
  done
}

common=(--clients "$clients" --outstanding "$outstanding" --size "$size" --duration "$duration" --warmup "$warmup" --reads "$reads" --keys "$keys")
echo "workload: ${clients} client(s) x ${outstanding} outstanding, ${size}-byte values, ${duration} s after ${warmup} s warm-up, reads ${reads}, fsync on; raftline actors=${actors}, read modes ${read_modes}; ${rounds} round(s)"
for round in $(seq 1 "$rounds"); do
  # Round 1 keeps the names of a single run (etcd.json, raftline.json); later rounds number theirs.
  suffix=""; [ "$round" -eq 1 ] || suffix="-$round"
  start_etcd
  node dist/bench/peers/etcd-load.js --endpoints "$endpoints" "${common[@]}" --json "$out/etcd$suffix.json"
  stop_etcd
  for mode in "${modes[@]}"; do
    # Files as etcd-compare.js reads them: raftline.json for linearizable reads, raftline-MODE.json else.
    name=raftline; mode_flag=()
    if [ "$mode" != linearizable ]; then name="raftline-$mode"; mode_flag=(--read-mode "$mode"); fi
    node dist/src/cli/main.js bench --nodes 3 "${common[@]}" "${mode_flag[@]}" --actors "$actors" --base-port "$raftline_base" --no-live \
      --json "$out/$name$suffix.json" >"$out/$name$suffix.txt"
    sed -n '1,4p' "$out/$name$suffix.txt"
  done
done
node dist/bench/peers/etcd-compare.js "$out" "$rounds" "$read_modes"
