#!/usr/bin/env bash
# The whole test gate, on a fresh Debian machine with the Rust toolchain:
# formatting, lints, the dependency direction, every test (the end-to-end ones
# against real Prosody, ejabberd, Kamailio, sipp and linphonec) and the
# deployment files (deploy/check.sh). README.md names this script as the test
# command; .ci/run calls it and nothing else.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive

# Real peers for the end-to-end tests. Missing ones are installed when this
# runs as root (or with sudo); otherwise the script names them and stops,
# rather than letting their tests fail one by one.
# PostgreSQL's server binaries are not on PATH: Debian keeps them in
# /usr/lib/postgresql/<version>/bin, where the harness looks.
peers=(prosody:prosody sipp:sip-tester linphonec:linphone-cli ejabberdctl:ejabberd
  kamailio:kamailio openssl:openssl initdb:postgresql)
missing=()
for peer in "${peers[@]}"; do
  command -v "${peer%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${peer%%:*}" ] ||
    compgen -G "/usr/lib/postgresql/*/bin/${peer%%:*}" >/dev/null || missing+=("${peer#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if ! sudo -n true 2>/dev/null; then
      echo "check.sh: missing ${missing[*]}: apt-get install ${missing[*]} (as root), then run again" >&2
      exit 1
    fi
    SUDO="sudo"
  fi
  echo "== check.sh: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" ca-certificates >/dev/null
  # Where systemd runs, these packages start system daemons (ejabberd on public
  # ports, epmd, Kamailio on 5060, PostgreSQL on 5432); the tests start their
  # own on loopback.
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now ejabberd kamailio epmd.service epmd.socket postgresql >/dev/null 2>&1 || true
  fi
fi
rustup component add clippy rustfmt >/dev/null 2>&1 || true

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Dependencies point one way: mapping has no tokio; sip, xmpp and msrp build without their drivers.
cargo check --locked -p parley-mapping
cargo check --locked -p parley-sip -p parley-xmpp --no-default-features
if cargo tree --locked -p parley-mapping -e normal | grep -q ' tokio '; then
  echo "parley-mapping must not depend on tokio" >&2
  exit 1
fi
# msrp's sans-IO core (everything but its driver) has no tokio.
cargo check --locked -p parley-msrp --no-default-features
if cargo tree --locked -p parley-msrp -e normal --no-default-features | grep -q ' tokio '; then
  echo "parley-msrp must not depend on tokio" >&2
  exit 1
fi
cargo test --workspace --locked
# Deployment files: Kubernetes schemas, alert rules and their tests, dashboard coverage.
deploy/check.sh
# The README's quick start, as a user runs it (a phone registers to parley with
# a password, one message each way), on loopback ports picked free now.
free_port() {
  /usr/bin/python3 -c 'import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port)); print(port); break
    except OSError:
        pass
    finally:
        t.close(); u.close()'
}
QS_PROFILE=debug QS_C2S_PORT=$(free_port) QS_COMPONENT_PORT=$(free_port) QS_SIP_PORT=$(free_port) \
  QS_PHONE_PORT=$(free_port) QS_METRICS_PORT=$(free_port) deploy/quickstart.sh --check
