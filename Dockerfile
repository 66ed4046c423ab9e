# syntax=docker/dockerfile:1
# Parley container image: `docker build -t parley .` from the repository root.
#
# Stage 1 builds the release binary on Debian bookworm with the locked
# dependencies; stage 2 is debian:bookworm-slim with the
# `parley` binary and the CA bundle only, run as a numeric non-root user.
#
# No HEALTHCHECK: the runtime image has no HTTP client (no curl, no wget) and
# parley has no probe subcommand. Orchestrators probe GET /healthz and /readyz
# on the metrics port themselves (deploy/kubernetes/statefulset.yaml); compose
# relies on Prometheus' `up` and the ParleyNotReady/ParleyDown alerts.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src
COPY . .
# Line tables are for local debugging; the image ships a stripped binary.
ENV CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p parley-gateway \
    && install -D -m 0755 target/release/parley /out/parley

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# The CA bundle only (what the ca-certificates package installs, without the
# openssl binary and libssl it depends on): parley verifies TLS peers against
# it unless sip.tls.ca names a file. Rebuild the image for CA updates.
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/parley /usr/local/bin/parley
# Writable state (store.path), owned by the runtime user; the default config.
RUN install -d -o 10001 -g 10001 -m 0750 /var/lib/parley
COPY deploy/container/parley.toml /etc/parley/parley.toml
USER 10001:10001
VOLUME ["/var/lib/parley"]
# SIP UDP and TCP, SIP over TLS, and the HTTP endpoint (/metrics, /healthz, /readyz).
# Ports below 1024 would need CAP_NET_BIND_SERVICE; 5060/5061/9100 do not.
EXPOSE 5060/udp 5060/tcp 5061/tcp 9100/tcp
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/parley"]
CMD ["--config", "/etc/parley/parley.toml"]
