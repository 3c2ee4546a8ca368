#!/usr/bin/env bash
# Prints the path of the Temporal CLI, building it once with Go when it is missing.
# v1.5.1 is the last tag that builds with plain `go install` (later tags carry a replace directive).
set -euo pipefail
version=v1.5.1
if [ -n "${TEMPORAL_CLI:-}" ] && [ -x "${TEMPORAL_CLI}" ]; then echo "$TEMPORAL_CLI"; exit 0; fi
export PATH="$PATH:/usr/local/go/bin"
gobin="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
if [ -x "$gobin/temporal" ]; then echo "$gobin/temporal"; exit 0; fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi
command -v go >/dev/null 2>&1 || { echo "Go is needed to build the Temporal CLI (expected at /usr/local/go/bin)" >&2; exit 1; }
mkdir -p "$gobin"
# Callers started together (test suites of several checkouts on a new machine) wait for one build instead of each compiling it.
exec 9>"$gobin/.temporal-build.lock"
flock 9
if [ -x "$gobin/temporal" ]; then echo "$gobin/temporal"; exit 0; fi
echo "Building the Temporal CLI $version (once; takes a few minutes)..." >&2
go install "github.com/temporalio/cli/cmd/temporal@$version" >&2
echo "$gobin/temporal"
