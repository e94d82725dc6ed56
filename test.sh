#!/usr/bin/env bash
# The one test command (README, CI). Lab tests need root; under CI=true they
# fail instead of skipping when root or a tool is missing.
set -euo pipefail
cd "$(dirname "$0")"
go vet ./...
go test -race -count=1 -timeout 40m ./...
