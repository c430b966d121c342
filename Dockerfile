# syntax=docker/dockerfile:1
# producer-profile image: both binaries (producer-profile, webhook-dispatcher) on Debian
# bookworm-slim, running as uid/gid 65532. Build with BuildKit (Docker 23+ default):
#   docker build -t producer-profile:0.1.0 .
# The Helm chart (helm/producer-profile) runs `serve`, `migrate` and the dispatcher from it.

FROM rust:1-bookworm AS build
# libpq-dev                     diesel's postgres backend links libpq.
# libssl-dev zlib1g-dev pkg-config
#                               rdkafka's `ssl` and `libz` features link the system
#                               OpenSSL and zlib, found through pkg-config.
# build-essential python3       rdkafka-sys builds librdkafka from source with its mklove
#                               ./configure and `make libs`: C and C++ compilers, make,
#                               and lds-gen.py (python3) for the linker script.
# Versions are not pinned (hadolint DL3008): bookworm's security updates replace them,
# and a pinned version would stop the build once it is gone from the archive.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential libpq-dev libssl-dev pkg-config python3 zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the build reads: the manifest, build.rs with proto/ (compiled by it),
# migrations/ (embedded in the binary) and src/.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY migrations ./migrations
COPY src ./src
# The crates registry and target/ are cache mounts kept between builds: a source change
# recompiles this crate only, not the dependencies (librdkafka included). The cache is
# not part of the image, so the binaries are copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bins \
 && mkdir -p /out \
 && cp target/release/producer-profile target/release/webhook-dispatcher /out/

FROM debian:bookworm-slim
# The shared libraries the binaries link (libpq, OpenSSL, zlib; librdkafka is static) and
# the CA certificates OpenSSL uses to verify the brokers and the database.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libpq5 libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/producer-profile /out/webhook-dispatcher /usr/local/bin/
# Non-root, matching the chart's securityContext (runAsUser/runAsGroup 65532).
USER 65532:65532
# 50051: gRPC (serve); 9090: /metrics, /healthz, /readyz (both binaries).
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/producer-profile"]
CMD ["serve"]
