#!/usr/bin/env bash
# Installs (where missing) and starts the local services the server and the tests need:
# Debian's PostgreSQL cluster with the service's role and database, and a tansu broker
# (Kafka protocol, in-memory storage) with the events topic. Idempotent: safe to rerun.
#
#   scripts/local-services.sh up | down | postgres | kafka | deps
set -euo pipefail

cd "$(dirname "$0")/.."
LOCAL=.local
LOGS=$LOCAL/logs
DB_USER=${DB_USER:-producer_profile}
DB_PASSWORD=${DB_PASSWORD:-producer_profile}
DB_NAME=${DB_NAME:-producer_profile}
PG_PORT=${PG_PORT:-5432}
KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}
KAFKA_PORT=${KAFKA_PORT:-9092}
EVENTS_TOPIC=${EVENTS_TOPIC:-producer-profile.events.v1}
TOPIC_PARTITIONS=${TOPIC_PARTITIONS:-3}
TANSU_VERSION=0.6.0
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin
TANSU=$CARGO_BIN/tansu

mkdir -p "$LOGS"

say() { printf '==> %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

apt_install() {
  say "installing $* (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Waits until host:port accepts TCP connections, up to $3 seconds.
wait_for_port() {
  local host=$1 port=$2 seconds=$3
  for _ in $(seq 1 $((seconds * 5))); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "nothing is listening on $host:$port after ${seconds}s" >&2
  return 1
}

# What building the service needs besides Rust: diesel links libpq, and librdkafka is
# compiled (its configure requires a C++ compiler too) with OpenSSL (for SASL/SSL
# clusters) and zlib.
build_deps() {
  local package missing=()
  for package in libpq-dev libssl-dev zlib1g-dev pkg-config make g++; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
}

postgres_up() {
  command -v pg_ctlcluster >/dev/null && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 \
    || apt_install postgresql
  local version
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters --no-header | awk '{print $1, $2}' | grep -qx "$version main"; then
    say "creating PostgreSQL $version cluster"
    as_root pg_createcluster "$version" main >/dev/null
  fi
  if ! pg_lsclusters --no-header | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
    say "starting PostgreSQL $version"
    as_root pg_ctlcluster "$version" main start
    # Remember that we started it: services-down stops only what up started.
    echo "$version" >"$LOCAL/postgres.started"
  fi
  ln -sf "/var/log/postgresql/postgresql-$version-main.log" "$LOGS/postgresql.log"
  wait_for_port 127.0.0.1 "$PG_PORT" 30
  # The role may predate this script: (re)grant what the service and the tests need.
  as_postgres psql -q -v ON_ERROR_STOP=1 -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER;
  END IF;
END \$\$;
ALTER ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
SQL
  if ! as_postgres psql -tA -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
    as_postgres createdb -O "$DB_USER" "$DB_NAME"
  fi
  say "PostgreSQL ready: postgres://$DB_USER:***@127.0.0.1:$PG_PORT/$DB_NAME"
}

kafka_up() {
  if ! "$TANSU" --version 2>/dev/null | grep -q "tansu $TANSU_VERSION"; then
    say "installing tansu $TANSU_VERSION (cargo install, about 10 minutes once)"
    cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore
  fi
  if ! (exec 3<>"/dev/tcp/$KAFKA_HOST/$KAFKA_PORT") 2>/dev/null; then
    say "starting tansu on $KAFKA_HOST:$KAFKA_PORT (in-memory storage; log: $LOGS/tansu.log)"
    setsid nohup "$TANSU" broker \
      --listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT" \
      --advertised-listener-url "tcp://$KAFKA_HOST:$KAFKA_PORT" \
      --storage-engine memory://tansu/ >"$LOGS/tansu.log" 2>&1 </dev/null &
    echo $! >"$LOCAL/tansu.pid"
    wait_for_port "$KAFKA_HOST" "$KAFKA_PORT" 30
  fi
  # tansu does not create topics on demand, and in-memory topics vanish with the broker.
  if ! "$TANSU" topic list --broker "tcp://$KAFKA_HOST:$KAFKA_PORT" 2>/dev/null | grep -qF "\"$EVENTS_TOPIC\""; then
    "$TANSU" topic create "$EVENTS_TOPIC" --partitions "$TOPIC_PARTITIONS" \
      --broker "tcp://$KAFKA_HOST:$KAFKA_PORT" >/dev/null
  fi
  say "Kafka ready: $KAFKA_HOST:$KAFKA_PORT, topic $EVENTS_TOPIC"
}

down() {
  if [ -f "$LOCAL/tansu.pid" ]; then
    kill "$(cat "$LOCAL/tansu.pid")" 2>/dev/null || true
    rm -f "$LOCAL/tansu.pid"
    say "tansu stopped"
  fi
  if [ -f "$LOCAL/postgres.started" ]; then
    local version
    version=$(cat "$LOCAL/postgres.started")
    as_root pg_ctlcluster "$version" main stop || true
    rm -f "$LOCAL/postgres.started"
    say "PostgreSQL $version stopped"
  else
    say "PostgreSQL was already running before services-up: left running"
  fi
}

case "${1:-up}" in
  up) build_deps; postgres_up; kafka_up ;;
  deps) build_deps ;;
  postgres) postgres_up ;;
  kafka) kafka_up ;;
  down) down ;;
  *) echo "usage: $0 up|down|postgres|kafka|deps" >&2; exit 2 ;;
esac
