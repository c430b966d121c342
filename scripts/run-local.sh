#!/usr/bin/env bash
# Runs the gRPC server and the webhook dispatcher together for local development: the
# dispatcher in the background (log in .local/logs/webhook-dispatcher.log), the server in
# the foreground. Ctrl-C stops both.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN_DIR=${BIN_DIR:-target/debug}
LOGS=.local/logs
mkdir -p "$LOGS"

"$BIN_DIR/webhook-dispatcher" >>"$LOGS/webhook-dispatcher.log" 2>&1 &
DISPATCHER=$!
trap 'kill -TERM "$DISPATCHER" 2>/dev/null; wait "$DISPATCHER" 2>/dev/null || true' EXIT
echo "==> webhook-dispatcher running (pid $DISPATCHER, log $LOGS/webhook-dispatcher.log)"

"$BIN_DIR/producer-profile" serve
