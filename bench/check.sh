#!/usr/bin/env bash
# Time to verdict of `portcheck check` against the tools a person would use,
# in portcheck's network lab (internal/netlab: client -> r1 -> r2 -> server,
# 198.18.0.0/15 and 2001:db8::/32, no route out). Issue 2's Speed section.
#
#   sudo bench/check.sh               # every scenario, median of 3 runs each, then the full range
#   REPEAT=1 RANGE=0 bench/check.sh   # quick: one run, no 1-65535 range
#   SCENARIOS=0 bench/check.sh        # only the 1-65535 range
#
# Per scenario, side by side (wall clock, process start included):
#   portcheck check --json ADDR:PORT
#   nmap -n -sS -Pn --reason -p PORT ADDR
#   nc -vz -w5 ADDR PORT, then traceroute -n -T -p PORT ADDR when nc did not
#     connect (what a person does by hand, one after the other)
# and the ratios portcheck/nmap and portcheck/(nc+traceroute): below 1 means
# portcheck is faster. Then the server's ports 1-65535: portcheck vs
# nmap -sT -T4 -p-, wall time, CPU (user+sys) and peak resident memory of
# each whole process (/usr/bin/time) and their ratios, with the
# open/closed/filtered sets compared. (go test -bench LabRange ./checks/
# gives the same figures for the engine alone.)
#
# Everything runs inside the lab's client namespace; nothing else is probed.
# Needs root; installs nmap, traceroute, netcat-openbsd, jq and time when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-3}
RANGE=${RANGE:-1}
SCENARIOS=${SCENARIOS:-1}

[ "$(id -u)" = 0 ] || { echo "bench/check.sh needs root (network namespaces, nmap -sS)" >&2; exit 1; }
need=()
command -v nmap >/dev/null || need+=(nmap)
command -v traceroute >/dev/null || need+=(traceroute)
nc -h 2>&1 | grep -q OpenBSD || need+=(netcat-openbsd)
command -v jq >/dev/null || need+=(jq)
[ -x /usr/bin/time ] || need+=(time)
command -v ip >/dev/null || need+=(iproute2)
command -v ip6tables >/dev/null || need+=(iptables)
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

tmp=$(mktemp -d)
prefix="pcb-$$" # our own namespaces only: other labs (tests) may be running
go build -o "$tmp/portcheck" ./cmd/portcheck
go build -o "$tmp/labctl" ./internal/netlab/labctl
cleanup() {
  "$tmp/labctl" down -prefix "$prefix-" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
# The lab's services log to the stderr they inherit: keep that out of the table.
"$tmp/labctl" up -prefix "$prefix" >"$tmp/lab.json" 2>"$tmp/lab.log"
j() { jq -r "$1" "$tmp/lab.json"; }
C=$(j .namespaces.client)
S=$(j .addresses.server) S6=$(j .addresses.server6)
DEAD=$(j .addresses.dead) NU=$(j .addresses.net_unreach) NR=$(j .addresses.no_route)
GW=$(j .addresses.gw) QUIET=$(j .addresses.quiet) NRB=$(j .addresses.no_route_back)
port() { j ".ports.$1"; }

in_client() { ip netns exec "$C" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
hostport() { case $1 in *:*) echo "[$1]:$2" ;; *) echo "$1:$2" ;; esac; }
v6flag() { case $1 in *:*) echo -6 ;; esac; }

# One scenario: name address port. Prints one row. The tools run one right
# after another with no pause, as they would in an incident: the lab's
# routers keep Linux's default ICMP rate limits (1 error/s per peer after a
# burst of 6), so whatever one tool spent of a router's budget the next one
# lives with. portcheck paces its own probes by that budget; a figure that
# needs a pause first is not a figure.
scenario() {
  local name=$1 addr=$2 p=$3 i t0 pc=() nm=() nt=() verdict state ncline
  for ((i = 0; i < REPEAT; i++)); do
    t0=$(now_ms)
    in_client "$tmp/portcheck" check --json "$(hostport "$addr" "$p")" >"$tmp/pc.json" 2>/dev/null || true
    pc+=($(($(now_ms) - t0)))

    t0=$(now_ms)
    in_client nmap -n -sS -Pn --reason $(v6flag "$addr") -p "$p" "$addr" >"$tmp/nmap.txt" 2>&1 || true
    nm+=($(($(now_ms) - t0)))

    t0=$(now_ms)
    if in_client nc -vz -w5 "$addr" "$p" >"$tmp/nc.txt" 2>&1; then :; else
      in_client traceroute -n -T -p "$p" "$addr" >"$tmp/tr.txt" 2>&1 || true
    fi
    nt+=($(($(now_ms) - t0)))
  done
  verdict=$(jq -r '.verdict + " (" + .reason + ")"' "$tmp/pc.json" 2>/dev/null || echo "?")
  state=$(awk -v q="$p/tcp" '$1 == q {print $2 " (" $4 ")"}' "$tmp/nmap.txt")
  [ -n "$state" ] || state=$(grep -m1 -oE '(unreachable|failed|Network is unreachable)[^.]*' "$tmp/nmap.txt" || echo "?")
  ncline=$(grep -m1 -oE 'succeeded|refused|timed out|No route to host|Network is unreachable|unreachable' "$tmp/nc.txt" || echo "?")
  local mpc mnm mnt
  mpc=$(printf '%s\n' "${pc[@]}" | median)
  mnm=$(printf '%s\n' "${nm[@]}" | median)
  mnt=$(printf '%s\n' "${nt[@]}" | median)
  printf '%-12s %-42s %7s   %-34s %7s %7s   %-22s %8s %7s\n' "$name" "$verdict" "$mpc" "$state" "$mnm" "$(ratio "$mpc" "$mnm")" "$ncline" "$mnt" "$(ratio "$mpc" "$mnt")"
}

# The lab's RTT as portcheck's own handshake saw it (no ping binary needed).
rtt=$(in_client "$tmp/portcheck" check --json "$S:$(port open)" 2>/dev/null | jq -r '.connect.rtt_ms' || true)
if [ "$SCENARIOS" = 1 ]; then
echo "lab: client -> r1 -> r2 -> server $S ($S6), ping RTT ${rtt:-?} ms; median of $REPEAT runs; times in ms"
echo
printf '%-12s %-42s %7s   %-34s %7s %7s   %-22s %8s %7s\n' SCENARIO "PORTCHECK VERDICT" PC_MS "NMAP -sS STATE (REASON)" NMAP_MS PC/NMAP "NC" NC+TR_MS PC/NCTR
scenario open        "$S" "$(port open)"
scenario ssh         "$S" "$(port ssh)"
scenario refuse_421  "$S" "$(port refuse_421)"
scenario closed      "$S" "$(port closed)"
scenario loopback    "$S" "$(port loopback)"
scenario host_reject "$S" "$(port host_reject)"
scenario host_admin  "$S" "$(port host_admin)"
scenario host_drop   "$S" "$(port host_drop)"
scenario path_drop   "$S" "$(port path_drop)"
scenario path_admin  "$S" "$(port path_admin)"
scenario dead_host   "$DEAD" "$(port open)"
scenario net_unreach "$NU" 80
scenario no_route    "$NR" 80
scenario open6       "$S6" "$(port open)"
scenario closed6     "$S6" "$(port closed)"
scenario host_drop6  "$S6" "$(port host_drop)"
scenario path_drop6  "$S6" "$(port path_drop)"
# Issue 13: port forwards on a NAT gateway, forged resets, a router that
# sends no ICMP, a host without a route back. nmap -sS --reason shows
# "reset ttl 64" but not who sent it.
scenario fwd_open    "$GW" "$(port forward_open)"
scenario fwd_dead    "$GW" "$(port forward_dead)"
scenario fwd_closed  "$GW" "$(port forward_closed)"
scenario fwd_drop    "$GW" "$(port forward_drop)"
scenario no_forward  "$GW" "$(port no_forward)"
scenario reset_hop1  "$S" "$(port path_reset)"
scenario reset_last  "$S" "$(port path_reset_last)"
scenario quiet_drop  "$QUIET" "$(port quiet_drop)"
scenario no_rt_back  "$NRB" "$(port no_route_back_open)"
echo
echo "targets: open/closed/rejected no slower than nmap (PC/NMAP <= 1; the gateway and reset rows <= 1.2); a filtered verdict <= 1500 ms where no re-ask is needed, <= 3500 ms where it is"
fi

[ "$RANGE" = 1 ] || exit 0
echo
echo "full range $S:1-65535: wall, CPU (user+sys) and peak RSS of the whole process (/usr/bin/time), median of $REPEAT"
# Alternating, so a burst of load on this shared machine does not land on
# one tool only. Each metric's median is taken on its own.
pcw=() pcc=() pcm=() nmw=() nmc=() nmm=()
timed() { # file cmd...: runs cmd in the client namespace, appends "wall cpu rss_kb" to file
  local f=$1
  shift
  in_client /usr/bin/time -o "$tmp/time" -f '%e %U %S %M' "$@" || true
  # The last line: time puts "Command exited with non-zero status 1"
  # first when a port is not open.
  tail -1 "$tmp/time" | awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' >>"$f"
}
: >"$tmp/pc.times"
: >"$tmp/nm.times"
for ((i = 0; i < REPEAT; i++)); do
  timed "$tmp/pc.times" "$tmp/portcheck" check --json --max-ports 65535 "$S:1-65535" >"$tmp/range.json" 2>/dev/null
  timed "$tmp/nm.times" nmap -n -sT -T4 -Pn -p- -oG "$tmp/nmap.gnmap" "$S" >/dev/null 2>&1
done
col() { awk -v c="$2" '{print $c}' "$1" | median; }
pcw=$(col "$tmp/pc.times" 1) pcc=$(col "$tmp/pc.times" 2) pcm=$(col "$tmp/pc.times" 3)
nmw=$(col "$tmp/nm.times" 1) nmc=$(col "$tmp/nm.times" 2) nmm=$(col "$tmp/nm.times" 3)
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# portcheck verdicts in nmap -sT terms: accepted = open; a RST or an ICMP
# port-unreachable = closed (connect() sees ECONNREFUSED for both, so -sT
# cannot tell them apart); anything else = filtered.
jq -r 'select(.verdict == "open" or .verdict == "service_refused") | .port' "$tmp/range.json" | sort -n >"$tmp/pc.open"
jq -r 'select(.verdict != "open" and .verdict != "service_refused" and .verdict != "closed" and .reason != "icmp-port-unreachable") | .port' "$tmp/range.json" | sort -n >"$tmp/pc.filtered"
pc_closed=$(jq -r 'select(.verdict == "closed" or .reason == "icmp-port-unreachable") | .port' "$tmp/range.json" | wc -l)
grep -oE '[0-9]+/open/' "$tmp/nmap.gnmap" | cut -d/ -f1 | sort -n >"$tmp/nm.open" || true
grep -oE '[0-9]+/filtered/' "$tmp/nmap.gnmap" | cut -d/ -f1 | sort -n >"$tmp/nm.filtered" || true
nm_closed=$(grep -oE '[0-9]+/closed/' "$tmp/nmap.gnmap" | wc -l || true)
ign=$(grep -oE 'Ignored State: closed \([0-9]+\)' "$tmp/nmap.gnmap" | grep -oE '[0-9]+' || echo 0)
nm_closed=$((nm_closed + ign))
same() { cmp -s "$1" "$2" && echo same || echo DIFFERENT; }
printf '%-10s %7s %7s %9s\n' TOOL WALL_S CPU_S PEAK_MIB
printf '%-10s %7s %7s %9s   open: %-28s filtered: %-24s closed: %s\n' portcheck "$pcw" "$pcc" "$(mib "$pcm")" "$(paste -sd, "$tmp/pc.open")" "$(paste -sd, "$tmp/pc.filtered")" "$pc_closed"
printf '%-10s %7s %7s %9s   open: %-28s filtered: %-24s closed: %s\n' "nmap -sT" "$nmw" "$nmc" "$(mib "$nmm")" "$(paste -sd, "$tmp/nm.open")" "$(paste -sd, "$tmp/nm.filtered")" "$nm_closed"
closed_same=DIFFERENT
[ "$pc_closed" = "$nm_closed" ] && closed_same=same
echo "open sets: $(same "$tmp/pc.open" "$tmp/nm.open"); filtered sets: $(same "$tmp/pc.filtered" "$tmp/nm.filtered"); closed counts: $closed_same"
echo "portcheck/nmap: wall $(ratio "$pcw" "$nmw") (target <= 0.8), CPU $(ratio "$pcc" "$nmc") (target <= 1.5), peak RSS $(ratio "$pcm" "$nmm") ($(mib "$pcm") MiB, target <= 64 MiB)"
