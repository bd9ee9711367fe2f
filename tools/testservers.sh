#!/usr/bin/env bash
# Starts the servers panka's integration tests run against, on free loopback ports:
#   versitygw  (S3-compatible; posix backend in a temp dir, bucket versioning enabled)
#   dynalite   (DynamoDB-compatible; in memory, tables ACTIVE immediately)
# and exports their endpoints in the variables every test reads:
#   PANKA_TEST_S3_ENDPOINT PANKA_TEST_S3_ACCESS_KEY PANKA_TEST_S3_SECRET_KEY
#   PANKA_TEST_S3_REGION PANKA_TEST_DYNAMODB_ENDPOINT
#
# Usage:
#   tools/testservers.sh run -- CMD [ARGS...]   start, run CMD with the variables set, stop;
#                                               exits with CMD's exit code
#   tools/testservers.sh start                  start in the background, print `export ...`
#                                               lines (eval "$(tools/testservers.sh start)")
#                                               and write them to .tools/servers.env
#   tools/testservers.sh stop                   stop what `start` started
#
# Missing tools are installed first with tools/install.sh (into .tools/, git-ignored).
# Servers only ever listen on 127.0.0.1 and are stopped by PID.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
envfile="$tools/servers.env"
statefile="$tools/servers.state"

log() { echo "tools/testservers.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# detach runs a server in its own session where setsid exists (Linux), so a
# Ctrl-C in the terminal reaches CMD and the cleanup trap, not the servers.
# It execs (it runs in the background subshell), so $! is the server itself.
detach() {
  if command -v setsid >/dev/null; then exec setsid "$@"; else exec "$@"; fi
}

# Globals filled by start_servers.
VGW_PID=""
DYN_PID=""
WORKDIR=""
S3_PORT=""
DDB_PORT=""
ACCESS_KEY="pankatest"
SECRET_KEY=""

install_tools() {
  if [ ! -x "$tools/bin/versitygw" ] || [ ! -f "$tools/node_modules/dynalite/cli.js" ]; then
    "$root/tools/install.sh" versitygw dynalite
  fi
  command -v node >/dev/null || die "node is required for dynalite (apt-get install -y nodejs)"
}

# free_port prints a TCP port that was free on 127.0.0.1 a moment ago.
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# port_open PORT: true when something accepts connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_ready NAME PID PORT LOGFILE: waits up to 30 s for PORT to accept connections
# while PID is alive. Returns 1 when the process died (e.g. the port was taken).
wait_ready() {
  local name=$1 pid=$2 port=$3 logf=$4 i
  for i in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited while starting on port $port:"; tail -n 20 "$logf" >&2 || true
      return 1
    fi
    if port_open "$port"; then return 0; fi
    sleep 0.1
  done
  log "$name did not accept connections on 127.0.0.1:$port within 30 s:"; tail -n 20 "$logf" >&2 || true
  kill "$pid" 2>/dev/null || true
  return 1
}

start_versitygw() {
  local attempt
  mkdir -p "$WORKDIR/s3/data" "$WORKDIR/s3/versions"
  for attempt in 1 2 3 4 5; do
    S3_PORT=$(free_port)
    ROOT_ACCESS_KEY="$ACCESS_KEY" ROOT_SECRET_KEY="$SECRET_KEY" \
      detach "$tools/bin/versitygw" --port "127.0.0.1:$S3_PORT" --region us-east-1 --quiet \
      posix --versioning-dir "$WORKDIR/s3/versions" "$WORKDIR/s3/data" \
      >"$WORKDIR/versitygw.log" 2>&1 </dev/null &
    VGW_PID=$!
    if wait_ready versitygw "$VGW_PID" "$S3_PORT" "$WORKDIR/versitygw.log"; then return 0; fi
    VGW_PID=""
  done
  die "could not start versitygw (log: $WORKDIR/versitygw.log)"
}

start_dynalite() {
  local attempt
  for attempt in 1 2 3 4 5; do
    DDB_PORT=$(free_port)
    detach node "$tools/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$DDB_PORT" \
      --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 \
      >"$WORKDIR/dynalite.log" 2>&1 </dev/null &
    DYN_PID=$!
    if wait_ready dynalite "$DYN_PID" "$DDB_PORT" "$WORKDIR/dynalite.log"; then return 0; fi
    DYN_PID=""
  done
  die "could not start dynalite (log: $WORKDIR/dynalite.log)"
}

stop_pids() {
  local pid
  for pid in "$@"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

start_servers() {
  install_tools
  WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/panka-testservers.XXXXXX")
  SECRET_KEY="panka-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  start_versitygw
  if ! start_dynalite; then stop_pids "$VGW_PID"; exit 1; fi
  export PANKA_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
  export PANKA_TEST_S3_ACCESS_KEY="$ACCESS_KEY"
  export PANKA_TEST_S3_SECRET_KEY="$SECRET_KEY"
  export PANKA_TEST_S3_REGION="us-east-1"
  export PANKA_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$DDB_PORT"
}

exports() {
  local v
  for v in PANKA_TEST_S3_ENDPOINT PANKA_TEST_S3_ACCESS_KEY PANKA_TEST_S3_SECRET_KEY \
    PANKA_TEST_S3_REGION PANKA_TEST_DYNAMODB_ENDPOINT; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
}

cleanup() {
  stop_pids "$VGW_PID" "$DYN_PID"
  VGW_PID="" DYN_PID=""
  [ -n "$WORKDIR" ] && rm -rf "$WORKDIR"
  WORKDIR=""
}

cmd_run() {
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || die "usage: tools/testservers.sh run -- CMD [ARGS...]"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start_servers
  log "versitygw on $PANKA_TEST_S3_ENDPOINT, dynalite on $PANKA_TEST_DYNAMODB_ENDPOINT"
  # CMD runs in the background and is waited for, so a TERM/INT sent to this
  # script is handled at once (passed on to CMD, then the servers stopped)
  # rather than after CMD ends. Its stdin stays the script's.
  local rc=0 cmd_pid
  (exec "$@") <&0 &
  cmd_pid=$!
  trap 'kill -TERM "$cmd_pid" 2>/dev/null; wait "$cmd_pid"; exit 143' TERM
  trap 'kill -INT "$cmd_pid" 2>/dev/null; wait "$cmd_pid"; exit 130' INT
  wait "$cmd_pid" || rc=$?
  exit "$rc"
}

cmd_start() {
  if [ -f "$statefile" ]; then
    # shellcheck disable=SC1090
    . "$statefile"
    if kill -0 "${VGW_PID:-0}" 2>/dev/null && kill -0 "${DYN_PID:-0}" 2>/dev/null; then
      log "servers already running (tools/testservers.sh stop to stop them)"
      cat "$envfile"
      return 0
    fi
    cmd_stop
  fi
  start_servers
  mkdir -p "$tools"
  exports >"$envfile"
  printf 'VGW_PID=%q\nDYN_PID=%q\nWORKDIR=%q\n' "$VGW_PID" "$DYN_PID" "$WORKDIR" >"$statefile"
  log "versitygw (pid $VGW_PID) on $PANKA_TEST_S3_ENDPOINT, dynalite (pid $DYN_PID) on $PANKA_TEST_DYNAMODB_ENDPOINT; wrote $envfile"
  cat "$envfile"
}

cmd_stop() {
  if [ ! -f "$statefile" ]; then
    log "no servers started by 'start' ($statefile missing)"
    return 0
  fi
  # shellcheck disable=SC1090
  . "$statefile"
  cleanup
  rm -f "$statefile" "$envfile"
  log "stopped"
}

case "${1:-}" in
  run) shift; cmd_run "$@" ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  *) die "usage: tools/testservers.sh run -- CMD... | start | stop" ;;
esac
