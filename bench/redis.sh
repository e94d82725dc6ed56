#!/usr/bin/env bash
# Benchmarks store/redis against a local redis-server and compares it with
# redis-benchmark's raw XADD rate on the same server in the same run.
#
#   bench/redis.sh            # N=100000 XADDs for redis-benchmark, 20000 jobs for Go
#   N=20000 JOBS=5000 bench/redis.sh
#
# Prints: enqueue→Next latency p50/p99 (one worker already waiting), jobs/s
# through Enqueue→Next→Ack with 1 and 2 consumers, raw XADD ops/s with one
# client (-c 1, sequential like our producer) and with 50 clients, and the
# ratio raw-XADD(c=1) / jobs/s: how many XADD round trips one job costs.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
JOBS=${JOBS:-20000}
command -v redis-server >/dev/null || { echo "redis-server not found (apt-get install redis-server)" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found (apt-get install redis-tools)" >&2; exit 1; }

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || shuf -i 20000-60000 -n 1)
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
  --logfile "$dir/redis.log" --daemonize no &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

rps() { # redis-benchmark --csv prints "name","rps",...; take the rps
  redis-benchmark -p "$port" -n "$N" "$@" --csv XADD bench '*' f v | tail -1 | cut -d, -f2 | tr -d '"'
}
xadd1=$(rps -c 1)
xadd50=$(rps -c 50)
redis-cli -p "$port" del bench >/dev/null

out=$(PORTCHECK_BENCH_REDIS_URL="redis://127.0.0.1:$port/0" \
  go test -run '^$' -bench 'Latency|Throughput' -benchtime "${JOBS}x" -count 1 ./store/redis/)
mem=$(PORTCHECK_BENCH_REDIS_URL="redis://127.0.0.1:$port/0" \
  go test -run '^$' -bench 'Holding1000' -benchtime 1x -count 1 ./store/redis/ | grep -E '^Benchmark')
out="$out
$mem"
echo "$out" | grep -E '^Benchmark'
p50=$(echo "$out" | awk '/^BenchmarkLatency/ {for(i=1;i<=NF;i++) if($i=="p50-µs") print $(i-1)}')
p99=$(echo "$out" | awk '/^BenchmarkLatency/ {for(i=1;i<=NF;i++) if($i=="p99-µs") print $(i-1)}')
j1=$(echo "$out" | awk '/consumers=1/ {for(i=1;i<=NF;i++) if($i=="jobs/s") print $(i-1)}')
j2=$(echo "$out" | awk '/consumers=2/ {for(i=1;i<=NF;i++) if($i=="jobs/s") print $(i-1)}')

echo
printf 'enqueue→Next latency       p50 %s µs, p99 %s µs (target p99 < 5000 µs)\n' "$p50" "$p99"
printf 'queue jobs/s               1 consumer %s, 2 consumers %s\n' "$j1" "$j2"
printf 'redis-benchmark XADD ops/s c=1 %s, c=50 %s\n' "$xadd1" "$xadd50"
echo "$mem" | awk '{for(i=1;i<=NF;i++){if($i=="heap-MB")h=$(i-1); if($i=="stack-MB")s=$(i-1); if($i=="goroutines")g=$(i-1)}}
  END {printf "worker holding 1000 slow jobs  heap +%s MB, stacks +%s MB, %s goroutines (stub checker)\n", h, s, g}'
awk -v x="$xadd1" -v j="$j1" 'BEGIN { printf "ratio XADD(c=1)/jobs/s     %.2f (one job = enqueue + read + ack/del round trips)\n", x/j }'

# The real prober instead of the stub: a worker process in the network lab
# holding 1000 checks of a DROPped port at once (root only; LAB=1).
if [ "${LAB:-0}" = 1 ]; then
  lab=$(go test -run '^$' -bench 'Holding1000Filtered' -benchtime 1x -count 1 ./internal/e2e/ | grep -E '^Benchmark')
  # One line per load: distinct (1,000 ports, the memory target) and same
  # (1,000 checks of one port, coalesced into one probe).
  echo "$lab" | awk '{n=$1; sub(/.*\//,"",n); sub(/-[0-9]+$/,"",n); for(i=1;i<=NF;i++){if($i=="idle-RSS-MB")r=$(i-1); if($i=="peak-extra-RSS-MB")p=$(i-1); if($i=="KB/check")k=$(i-1); if($i=="peak-fds")f=$(i-1); if($i=="s-all-answered")s=$(i-1)}
    printf "worker (real prober, lab DROP) holding 1000 checks, %-8s RSS %s MB idle, +%s MB peak (%s KB/check; target +32 MB), %s fds, all answered in %s s (10 s timeout)\n", n, r, p, k, f, s}'
fi
