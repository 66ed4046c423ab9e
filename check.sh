#!/usr/bin/env bash
# The whole test gate: formatting, lints, the dependency direction, every test.
# README.md names this script as the test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Dependencies point one way: mapping has no tokio; sip and xmpp build without their drivers.
cargo check --locked -p parley-mapping
cargo check --locked -p parley-sip -p parley-xmpp --no-default-features
if cargo tree --locked -p parley-mapping -e normal | grep -q ' tokio '; then
  echo "parley-mapping must not depend on tokio" >&2
  exit 1
fi
cargo test --workspace --locked
