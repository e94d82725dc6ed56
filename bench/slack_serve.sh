#!/usr/bin/env bash
# Issue 4's speed figure against the real thing: signed Slack slash commands
# at a steady rate into `portcheck serve` (HTTP mode) on loopback, ack latency
# p50/p99, and proof that no request was lost (every one acknowledged AND in
# the audit trail, whose hash chain still verifies).
#
#   sudo bench/slack_serve.sh                 # 200 req/s for 15 s
#   RATE=400 DURATION=30s bench/slack_serve.sh
#
# serve and the load generator run in a fresh network namespace that has only
# loopback: the commands name web01:443, and nothing may leave this machine
# (no DNS, no Slack API; posts fail fast and are audited as such).
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-200}
DURATION=${DURATION:-15s}
[ "$(id -u)" = 0 ] || { echo "bench/slack_serve.sh needs root (network namespace)" >&2; exit 1; }

tmp=$(mktemp -d)
ns="pcsl-$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
go build -o "$tmp/portcheck" ./cmd/portcheck
go build -o "$tmp/slackload" ./bench/slackload
ip netns add "$ns"
ip -n "$ns" link set lo up

cat >"$tmp/run.sh" <<INNER
set -euo pipefail
export SLACK_BOT_TOKEN=xoxb-bench-token SLACK_SIGNING_SECRET=bench-signing-secret
export SLACK_API_URL=http://127.0.0.1:9/api/ PORTCHECK_LISTEN=127.0.0.1:18480 PORTCHECK_LOG_LEVEL=error
"$tmp/portcheck" serve --db "$tmp/audit.db" >"$tmp/serve.log" 2>&1 &
pid=\$!
for i in \$(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18480) 2>/dev/null && break; sleep 0.1; done
"$tmp/slackload" -url http://127.0.0.1:18480/slack/commands -secret bench-signing-secret -rate "$RATE" -duration "$DURATION"
kill -TERM \$pid
wait \$pid
INNER
ip netns exec "$ns" bash "$tmp/run.sh"

"$tmp/portcheck" audit export --db "$tmp/audit.db" --format jsonl |
  python3 -c '
import sys, json, collections
c = collections.Counter(); ids = set()
for line in sys.stdin:
    r = json.loads(line)
    if r["kind"] == "command":
        c[r.get("decision")] += 1; ids.add(r.get("command_id"))
print("audited commands:", len(ids), "by decision:", dict(c))'
"$tmp/portcheck" audit verify --db "$tmp/audit.db"
echo "target: ack p99 < 50 ms at 200 req/s, no request lost (audited commands = requests sent)"
