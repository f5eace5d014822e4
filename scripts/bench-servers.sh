#!/usr/bin/env bash
# Starts, stops and reports the servers the load harness compares (loadtests/README.md):
#   redis   Debian's redis-server on 127.0.0.1:6379, no persistence
#   garnet  the garnet-server dotnet tool on 127.0.0.1:6380, no persistence
#   cdp     this repository's server, Release build, binary 127.0.0.1:7070 and HTTP 127.0.0.1:8080,
#           on a fresh data folder (every start empties it, as Redis and Garnet start empty)
#
# usage: bash scripts/bench-servers.sh start|stop|status [redis] [garnet] [cdp]   (no names: all three)
#
# Everything lives under /tmp/cdp-bench: one pid file and one log per server, Cdp's data folder.
# Idempotent: start skips a server whose recorded process is alive, stop ignores ones that are not.
# Processes are only ever signalled by the PID this script recorded for them, never by name.
#
# Environment:
#   CDP_REV=<git revision>  build and run Cdp from that commit (exported with git archive to
#                           /tmp/cdp-bench/cdp-src-<sha>) instead of the work tree: useful while the
#                           work tree is being edited, and to measure a known commit
#   CDP_BUILD=0             do not build Cdp; run the dll that is already there
#   CDP_ARGS="..."          more Cdp server arguments, e.g. --Cdp:Store:CheckpointIntervalSeconds=0
#   BENCH_SERVER_CPUS=0     pin the servers to these CPUs (taskset list syntax), e.g. to give them one
#                           core and the harness the other (run it under `taskset -c 1`)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=/tmp/cdp-bench
BIND=127.0.0.1
REDIS_PORT=6379
GARNET_PORT=6380
CDP_BINARY_PORT=7070
CDP_HTTP_PORT=8080
GARNET_VERSION=2.2.8
TOOLS="$REPO/.tools"

mkdir -p "$STATE"

log() { echo "bench-servers: $*"; }

# A prefix that pins a command to $BENCH_SERVER_CPUS when that is set. Used as "${PIN[@]}" in front of
# a simple command, so taskset execs the server and $! is the server's own PID.
PIN=()
[ -z "${BENCH_SERVER_CPUS:-}" ] || PIN=(taskset -c "$BENCH_SERVER_CPUS")

cpus_note() { [ -n "${BENCH_SERVER_CPUS:-}" ] && echo ", pinned to CPUs $BENCH_SERVER_CPUS" || true; }

pid_file() { echo "$STATE/$1.pid"; }

# What the command line of each server's process contains; guards against a stale pid file whose
# PID has since been reused by an unrelated process.
command_mark() {
  case $1 in
    redis) echo redis-server ;;
    garnet) echo garnet-server ;;
    cdp) echo Cdp.Server ;;
  esac
}

# The recorded PID of a server, if that process is still alive and still that server.
live_pid() {
  local file pid
  file=$(pid_file "$1")
  [ -f "$file" ] || return 1
  pid=$(tr -d '[:space:]' < "$file")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(command_mark "$1")" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$BIND/$1") 2>/dev/null; }

wait_for_port() {
  local name=$1 port=$2 pid=$3 seconds=$4
  for _ in $(seq $((seconds * 10))); do
    if port_open "$port"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited during start; last lines of $STATE/$name.log:"
      tail -n 20 "$STATE/$name.log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  log "$name did not open port $port within $seconds s (see $STATE/$name.log)"
  return 1
}

# Refuses to start on a port that something else already holds (e.g. a system Redis).
require_free_port() {
  local name=$1 port=$2
  if port_open "$port"; then
    log "cannot start $name: $BIND:$port is already taken by a process this script did not start"
    return 1
  fi
}

install_redis() {
  command -v redis-server >/dev/null && return 0
  log "installing Debian's redis-server..."
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq redis-server >/dev/null
}

install_garnet() {
  [ -x "$TOOLS/garnet-server" ] && return 0
  log "installing the garnet-server $GARNET_VERSION dotnet tool into $TOOLS..."
  dotnet tool install --tool-path "$TOOLS" garnet-server --version "$GARNET_VERSION" >/dev/null
}

start_redis() {
  local pid
  if pid=$(live_pid redis); then log "redis already running (pid $pid)"; return 0; fi
  install_redis
  require_free_port redis "$REDIS_PORT"
  rm -f "$(pid_file redis)"
  # No RDB snapshots, no AOF: nothing on disk, like Garnet here. Daemonized; Redis writes its own pid file.
  "${PIN[@]}" redis-server --bind "$BIND" --port "$REDIS_PORT" --protected-mode yes --save "" --appendonly no \
    --daemonize yes --pidfile "$(pid_file redis)" --logfile "$STATE/redis.log" --dir "$STATE"
  for _ in $(seq 50); do [ -s "$(pid_file redis)" ] && break; sleep 0.1; done
  pid=$(live_pid redis) || { log "redis did not start (see $STATE/redis.log)"; return 1; }
  wait_for_port redis "$REDIS_PORT" "$pid" 10
  log "redis started on $BIND:$REDIS_PORT (pid $pid, $(redis-server --version | grep -o 'v=[^ ]*')$(cpus_note))"
}

start_garnet() {
  local pid
  if pid=$(live_pid garnet); then log "garnet already running (pid $pid)"; return 0; fi
  install_garnet
  require_free_port garnet "$GARNET_PORT"
  # No --aof, no --checkpointdir, no --storage-tier: everything in memory, as with Redis here.
  # A modest log and index for 100,000 profiles on a small machine.
  "${PIN[@]}" nohup "$TOOLS/garnet-server" --bind "$BIND" --port "$GARNET_PORT" --memory 2g --index 64m \
    --logger-level Warning >"$STATE/garnet.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" > "$(pid_file garnet)"
  wait_for_port garnet "$GARNET_PORT" "$pid" 30
  live_pid garnet >/dev/null || { log "garnet: recorded pid $pid is not the server"; return 1; }
  log "garnet started on $BIND:$GARNET_PORT (pid $pid, garnet-server $GARNET_VERSION$(cpus_note))"
}

# Builds the Cdp server and prints the path of its dll.
build_cdp() {
  local source="$REPO"
  if [ -n "${CDP_REV:-}" ]; then
    local sha
    sha=$(git -C "$REPO" rev-parse --verify "$CDP_REV^{commit}")
    source="$STATE/cdp-src-${sha:0:12}"
    if [ ! -d "$source" ]; then
      mkdir -p "$source"
      git -C "$REPO" archive "$sha" | tar -x -C "$source"
    fi
    log "Cdp from commit ${sha:0:12} ($source)" >&2
  fi
  if [ "${CDP_BUILD:-1}" != 0 ]; then
    log "building $source/src/Server (Release)..." >&2
    dotnet build -c Release "$source/src/Server" -nologo -v q >"$STATE/cdp-build.log" 2>&1 || {
      log "the Cdp build failed; see $STATE/cdp-build.log (set CDP_REV=HEAD to build the last commit)" >&2
      tail -n 20 "$STATE/cdp-build.log" >&2
      return 1
    }
  fi
  echo "$source/src/Server/bin/Release/net10.0/Cdp.Server.dll"
}

start_cdp() {
  local pid dll
  if pid=$(live_pid cdp); then log "cdp already running (pid $pid)"; return 0; fi
  require_free_port "cdp binary" "$CDP_BINARY_PORT"
  require_free_port "cdp http" "$CDP_HTTP_PORT"
  dll=$(build_cdp)
  [ -f "$dll" ] || { log "no Cdp server at $dll"; return 1; }
  rm -rf "$STATE/cdp-data"
  # The dll itself, not `dotnet run`, so the recorded PID is the server and SIGTERM reaches it.
  "${PIN[@]}" nohup dotnet "$dll" --data-dir "$STATE/cdp-data" --bind "$BIND" \
    --binary-port "$CDP_BINARY_PORT" --http-port "$CDP_HTTP_PORT" ${CDP_ARGS:-} >"$STATE/cdp.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" > "$(pid_file cdp)"
  wait_for_port cdp "$CDP_BINARY_PORT" "$pid" 60
  wait_for_port cdp "$CDP_HTTP_PORT" "$pid" 30
  live_pid cdp >/dev/null || { log "cdp: recorded pid $pid is not the server"; return 1; }
  log "cdp started: binary $BIND:$CDP_BINARY_PORT, http $BIND:$CDP_HTTP_PORT (pid $pid, $dll, data $STATE/cdp-data$(cpus_note))"
}

stop_one() {
  local name=$1 pid
  if ! pid=$(live_pid "$name"); then
    rm -f "$(pid_file "$name")"
    log "$name not running"
    return 0
  fi
  kill -TERM "$pid"
  # Cdp takes a final checkpoint on SIGTERM; give every server time for a clean exit before SIGKILL.
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) ignored SIGTERM for 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$name")"
  log "$name stopped (pid $pid)"
}

status_one() {
  local name=$1 pid ports
  case $name in
    redis) ports=$REDIS_PORT ;;
    garnet) ports=$GARNET_PORT ;;
    cdp) ports="$CDP_BINARY_PORT $CDP_HTTP_PORT" ;;
  esac
  local open=""
  for port in $ports; do
    if port_open "$port"; then open="$open $port:open"; else open="$open $port:closed"; fi
  done
  if pid=$(live_pid "$name"); then
    log "$name running (pid $pid) ports$open"
  else
    log "$name stopped, ports$open"
  fi
}

action=${1:-status}
shift || true
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(redis garnet cdp)
for name in "${servers[@]}"; do
  case $name in
    redis | garnet | cdp) ;;
    *) echo "unknown server '$name' (redis, garnet, cdp)" >&2; exit 2 ;;
  esac
done

case $action in
  start) for name in "${servers[@]}"; do "start_$name"; done ;;
  stop) for name in "${servers[@]}"; do stop_one "$name"; done ;;
  status) for name in "${servers[@]}"; do status_one "$name"; done ;;
  *) echo "usage: $0 start|stop|status [redis] [garnet] [cdp]" >&2; exit 2 ;;
esac
