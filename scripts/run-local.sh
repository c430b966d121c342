#!/usr/bin/env bash
# Runs the gRPC server and the webhook dispatcher together for local development (the
# dispatcher's log goes to .local/logs/webhook-dispatcher.log). Ctrl-C or SIGTERM stops
# both, each draining first; when one of them exits, the other is stopped too.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN_DIR=${BIN_DIR:-target/debug}
LOGS=.local/logs
mkdir -p "$LOGS"

"$BIN_DIR/webhook-dispatcher" >>"$LOGS/webhook-dispatcher.log" 2>&1 &
DISPATCHER=$!
"$BIN_DIR/producer-profile" serve &
SERVER=$!
echo "==> producer-profile serve (pid $SERVER) and webhook-dispatcher (pid $DISPATCHER, log $LOGS/webhook-dispatcher.log)"

stop() {
  trap - EXIT INT TERM
  kill -TERM "$SERVER" "$DISPATCHER" 2>/dev/null || true
  wait "$SERVER" "$DISPATCHER" 2>/dev/null || true
}
trap stop EXIT INT TERM
wait -n "$SERVER" "$DISPATCHER" || true
