#!/usr/bin/env bash
# make demo: the five-minute tour (examples/demo.rs) against the local server and
# dispatcher. Uses the ones `make run` started when they are up; otherwise starts them
# for the tour (logs in .local/logs/) and stops them afterwards.
set -euo pipefail

cd "$(dirname "$0")/.."
LOGS=.local/logs
mkdir -p "$LOGS"

if (exec 3<>/dev/tcp/127.0.0.1/50051) 2>/dev/null; then
  echo "==> using the server already listening on 127.0.0.1:50051"
else
  echo "==> starting the server and the dispatcher for the tour (logs in $LOGS/)"
  scripts/run-local.sh >>"$LOGS/producer-profile.log" 2>&1 &
  RUNNING=$!
  trap 'kill -TERM "$RUNNING" 2>/dev/null; wait "$RUNNING" 2>/dev/null || true' EXIT
fi
cargo run --quiet --example demo
