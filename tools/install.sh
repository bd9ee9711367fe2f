#!/usr/bin/env bash
# Installs the tools panka's tests and demo need into .tools/ (git-ignored),
# skipping whatever is already there: the Pulumi CLI (built from source, SPEC §9),
# versitygw (S3-compatible server) and dynalite (DynamoDB-compatible server).
# Usage: tools/install.sh [pulumi] [versitygw] [dynalite]   (default: all)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin"
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(pulumi versitygw dynalite)

PULUMI_VERSION=v3.274.1
VERSITYGW_VERSION=v1.8.0
DYNALITE_VERSION=4.0.0

log() { echo "tools/install.sh: $*" >&2; }

install_pulumi() {
  local stamp="$tools/bin/.pulumi-$PULUMI_VERSION"
  if [ -x "$tools/bin/pulumi" ] && [ -f "$stamp" ]; then return; fi
  log "building the Pulumi CLI $PULUMI_VERSION from source (about 3 minutes, 2.3 GB RAM)"
  (cd "$root/tools/pulumi" && GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
    -o "$tools/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  touch "$stamp"
}

install_versitygw() {
  local stamp="$tools/bin/.versitygw-$VERSITYGW_VERSION"
  if [ -x "$tools/bin/versitygw" ] && [ -f "$stamp" ]; then return; fi
  log "installing versitygw $VERSITYGW_VERSION"
  GOBIN="$tools/bin" GOFLAGS= go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  touch "$stamp"
}

install_dynalite() {
  if [ -f "$tools/node_modules/dynalite/cli.js" ]; then return; fi
  command -v npm >/dev/null || { log "npm is required for dynalite (apt-get install -y nodejs npm)"; exit 1; }
  log "installing dynalite $DYNALITE_VERSION"
  mkdir -p "$tools"
  (cd "$tools" && [ -f package.json ] || echo '{"private":true}' > "$tools/package.json")
  (cd "$tools" && npm install --no-audit --no-fund --silent "dynalite@$DYNALITE_VERSION")
}

for t in "${want[@]}"; do "install_$t"; done
