#!/usr/bin/env bash
# Writes the local development configuration (.local/producer-profile.toml, git-ignored)
# the first time: a random field-encryption key, a random blind-index key and an Ed25519
# development signing key, so `producer-profile token` can mint access tokens.
# Never use these in production: there, keys come from your secret store and tokens from
# your identity provider.
set -euo pipefail

cd "$(dirname "$0")/.."
LOCAL=$PWD/.local
CONFIG=$LOCAL/producer-profile.toml
SIGNING_KEY=$LOCAL/dev-signing-key.pem

WEBHOOKS_SECTION='
[webhooks]
# Local runs deliver to http:// and loopback receivers; production leaves this off.
allow_private_targets = true'

# tansu (the local broker) cannot fetch from inside a record batch: one event per batch.
SINGLE_BATCHES='single_record_batches = true'

if [ -f "$CONFIG" ]; then
  # Configurations written by earlier versions get what was added since.
  if ! grep -q '^\[webhooks\]' "$CONFIG"; then
    printf '%s\n' "$WEBHOOKS_SECTION" >>"$CONFIG"
    echo "==> added [webhooks] to $CONFIG"
  fi
  if ! grep -q '^single_record_batches' "$CONFIG"; then
    sed -i "s/^\[kafka\]\$/[kafka]\n$SINGLE_BATCHES/" "$CONFIG"
    echo "==> added kafka.single_record_batches to $CONFIG"
  fi
  exit 0
fi
if ! command -v openssl >/dev/null; then
  echo "==> installing openssl (apt-get)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi
mkdir -p "$LOCAL"
umask 077
openssl genpkey -algorithm ed25519 -out "$SIGNING_KEY"
cat >"$CONFIG" <<TOML
# Local development configuration, written by scripts/dev-config.sh. Every setting is
# documented in README.md; PP_* environment variables override these.
listen_addr = "127.0.0.1:50051"

[database]
url = "postgres://producer_profile:producer_profile@127.0.0.1:5432/producer_profile"

[kafka]
brokers = "127.0.0.1:9092"
topic = "producer-profile.events.v1"
$SINGLE_BATCHES

[auth]
issuer = "producer-profile-dev"
audience = "producer-profile"
dev_signing_key = "$SIGNING_KEY"

[encryption]
active_key_id = "dev-1"
keys = "dev-1:$(openssl rand -base64 32)"
blind_index_key = "$(openssl rand -base64 32)"
TOML
printf '%s\n' "$WEBHOOKS_SECTION" >>"$CONFIG"
echo "==> wrote $CONFIG"
