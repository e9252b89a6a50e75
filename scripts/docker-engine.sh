#!/usr/bin/env bash
# A Docker engine for the image tests, on a machine that may have none.
#
#   bash scripts/docker-engine.sh start    make sure an engine answers; prints shell assignments on stdout:
#                                              DOCKER_HOST=unix:///...   the engine to use
#                                              ML_LAMBDA_DOCKERD_PID=N   set only when THIS call started dockerd
#                                              ML_LAMBDA_DOCKER_DRIVER=overlay2|vfs
#   bash scripts/docker-engine.sh stop PID stop the dockerd that `start` reported starting (and only that one)
#   bash scripts/docker-engine.sh env      print DOCKER_HOST=... of an engine that answers (exit 1 if none)
#
# `start` looks for an engine in this order: $DOCKER_HOST, the socket this script uses, /var/run/docker.sock. Only
# when none answers does it start one: Debian's docker.io is installed with apt-get when there is no dockerd
# (root only), then dockerd runs with no iptables and no bridge (these machines have neither; containers use
# --network host or none), its data under .cache/docker/data-<driver> and its socket under /run. overlay2 is
# tried first; when dockerd cannot start with it, vfs (which copies every layer in full: tens of GB for torch).
# Progress and timings go to stderr; stdout carries only the assignments, so callers can `eval` it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$ROOT/.cache/docker"
# The worktrees of this repository share one .cache (a symlink): key the socket on its real path, so two
# checkouts find the same engine instead of starting a second dockerd on the same data root.
CACHE="$(cd "$ROOT/.cache/docker" && pwd -P)"
KEY="$(printf '%s' "$CACHE" | sha256sum | cut -c1-8)"
RUN_DIR="/run/ml-lambda-docker-$KEY"
OWN_SOCKET="$RUN_DIR/docker.sock"
LOG="$CACHE/dockerd.log"
WAIT_S="${ML_LAMBDA_DOCKERD_WAIT_S:-60}"

say() { printf '[docker-engine] %s\n' "$*" >&2; }
die() { printf '[docker-engine] error: %s\n' "$*" >&2; exit 1; }

# GET PATH from the Engine API on a unix socket (python3: present wherever this project runs; curl may not be).
# Prints the body, or with FIELD that key of a JSON body; exit 1 unless HTTP 200.
engine_get() {
    python3 - "$1" "$2" "$3" "${4:-}" <<'PY' 2>/dev/null
import json, socket, sys
sock, path, timeout, field = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX)
if float(timeout) > 0:
    s.settimeout(float(timeout))
s.connect(sock)
s.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
if not (data.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n", 1)[0] + b" "):
    sys.exit(1)
print(json.loads(body).get(field, "") if field else body.decode())
PY
}

# Does an engine answer on this unix socket?
answers() {
    local sock="${1#unix://}"
    [[ -S "$sock" ]] || return 1
    engine_get "$sock" /_ping 3 >/dev/null
}

find_engine() {
    local candidates=()
    [[ -n "${DOCKER_HOST:-}" ]] && candidates+=("$DOCKER_HOST")
    candidates+=("unix://$OWN_SOCKET" "unix:///var/run/docker.sock")
    for c in "${candidates[@]}"; do
        case "$c" in
            unix://*) if answers "$c"; then printf '%s' "$c"; return 0; fi ;;
            *) say "DOCKER_HOST=$c is not a unix socket; not probed (the image tests need a local engine)";;
        esac
    done
    return 1
}

driver_of() {
    engine_get "${1#unix://}" /info 0 Driver || true
}

install_docker() {
    command -v dockerd >/dev/null 2>&1 && return 0
    [[ "$(id -u)" == 0 ]] || die "no Docker engine answers and dockerd is not installed; as root this script installs Debian's docker.io, otherwise install Docker and start it (or set DOCKER_HOST)"
    command -v apt-get >/dev/null 2>&1 || die "no Docker engine answers, dockerd is not installed and there is no apt-get: install Docker Engine for this OS and start it (or set DOCKER_HOST)"
    local t0=$SECONDS
    if ! apt-cache policy docker.io 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        say "apt-get update (no docker.io in the package lists yet)"
        apt-get update -qq >&2
    fi
    say "installing docker.io with apt-get (dockerd, containerd, runc; Debian 12: Docker 20.10)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >&2
    say "docker.io installed in $((SECONDS - t0)) s"
}

# A dockerd that exits (or fails to start) can leave mounts behind under its data root and exec root; unmount
# those, and only those.
cleanup_mounts() {
    local m
    for m in $(awk -v a="$CACHE/data-" -v b="$RUN_DIR" 'index($2, a) == 1 || index($2, b) == 1 { print $2 }' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
}

start_dockerd() {
    local driver="$1" data="$CACHE/data-$1"
    mkdir -p "$RUN_DIR" "$data"
    say "starting dockerd (storage driver $driver, data $data, socket $OWN_SOCKET, log $LOG)"
    # setsid: its own session, so a Ctrl-C in the caller's terminal does not reach it; `stop` ends it.
    setsid dockerd \
        --iptables=false --ip6tables=false --bridge=none \
        --storage-driver "$driver" \
        --data-root "$data" \
        --exec-root "$RUN_DIR/exec" \
        --pidfile "$RUN_DIR/dockerd.pid" \
        -H "unix://$OWN_SOCKET" \
        >>"$LOG" 2>&1 </dev/null &
    local pid=$! t0=$SECONDS
    while (( SECONDS - t0 < WAIT_S )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "dockerd exited while starting with $driver; its last log lines:"
            grep -v '\[core\]' "$LOG" | tail -n 4 | sed 's/^/    /' >&2
            cleanup_mounts
            return 1
        fi
        if answers "unix://$OWN_SOCKET"; then
            STARTED_PID=$pid
            say "dockerd $pid answers after $((SECONDS - t0)) s"
            return 0
        fi
        sleep 0.25
    done
    say "dockerd did not answer within ${WAIT_S} s with $driver; stopping it"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    cleanup_mounts
    return 1
}

cmd_start() {
    local host
    if host="$(find_engine)"; then
        say "using the engine that answers at $host (not started here, so not stopped here)"
        printf 'DOCKER_HOST=%s\nML_LAMBDA_DOCKERD_PID=\nML_LAMBDA_DOCKER_DRIVER=%s\n' "$host" "$(driver_of "$host")"
        return 0
    fi
    install_docker
    [[ "$(id -u)" == 0 ]] || die "no Docker engine answers; starting dockerd needs root (or start Docker yourself and set DOCKER_HOST)"
    # Two callers starting at once would race for the same data root.
    exec 8>"$CACHE/.engine.lock"
    flock 8
    if host="$(find_engine)"; then
        say "another caller started the engine at $host meanwhile; using it"
        printf 'DOCKER_HOST=%s\nML_LAMBDA_DOCKERD_PID=\nML_LAMBDA_DOCKER_DRIVER=%s\n' "$host" "$(driver_of "$host")"
        return 0
    fi
    STARTED_PID=""
    local driver=""
    for d in ${ML_LAMBDA_DOCKER_DRIVER:-overlay2 vfs}; do
        if start_dockerd "$d"; then driver="$d"; break; fi
    done
    [[ -n "$STARTED_PID" ]] || die "dockerd did not start with any storage driver (see $LOG)"
    [[ "$driver" == vfs ]] && say "note: vfs copies every image layer in full; a torch image needs tens of GB of disk"
    printf 'DOCKER_HOST=unix://%s\nML_LAMBDA_DOCKERD_PID=%s\nML_LAMBDA_DOCKER_DRIVER=%s\n' "$OWN_SOCKET" "$STARTED_PID" "$driver"
}

cmd_stop() {
    local pid="${1:-}"
    [[ -n "$pid" ]] || { say "no dockerd PID given: nothing was started by this caller, nothing to stop"; return 0; }
    if ! kill -0 "$pid" 2>/dev/null; then
        say "dockerd $pid is not running"
        return 0
    fi
    # Only a dockerd on this script's socket: a stale or mistyped PID must not stop anything else.
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "unix://$OWN_SOCKET"; then
        die "process $pid is not the dockerd this script starts (socket $OWN_SOCKET); not stopping it"
    fi
    say "stopping dockerd $pid"
    kill -TERM "$pid"
    local t0=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        if (( SECONDS - t0 > 30 )); then
            say "dockerd $pid still running after 30 s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    cleanup_mounts
    say "dockerd stopped after $((SECONDS - t0)) s"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop "${2:-}" ;;
    env)
        host="$(find_engine)" || { say "no Docker engine answers"; exit 1; }
        printf 'DOCKER_HOST=%s\n' "$host"
        ;;
    *)
        sed -n '2,9p' "$0" >&2
        exit 2
        ;;
esac
