#!/usr/bin/env bash
# The one test command (README quickstart, and what .ci/run calls).
#
# As root on Debian it first installs what the tests need and a fresh machine
# lacks (redis-server for the Redis tests; iproute2, iptables, nftables,
# procps for the network lab; gcc for the race detector). The lab tests need
# root: without it they skip with a message, but under CI=true they fail,
# as do the Redis tests when redis-server is missing.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v iptables >/dev/null || need+=(iptables)
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v sysctl >/dev/null || need+=(procps)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
if ((${#need[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "test.sh: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test.sh: missing ${need[*]}: the tests that need them will skip (install them as root to run everything)" >&2
  fi
fi

go vet ./...
go test -race -count=1 -timeout 40m ./...
