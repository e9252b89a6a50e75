#!/usr/bin/env bash
# A local OCI registry (CNCF distribution) on 127.0.0.1, for the image tests: push the built image the way
# `pulumi up` pushes it to ECR and check the digest the function would be pinned to.
#
#   bash scripts/registry.sh start DIR   build the registry if needed, serve DIR on a free 127.0.0.1 port; prints
#                                         REGISTRY_ADDR=127.0.0.1:PORT and REGISTRY_PID=N on stdout
#   bash scripts/registry.sh stop PID    stop the registry `start` reported (and only a registry process)
#
# The binary is built from the Go module proxy (github.com/distribution/distribution/v3/cmd/registry at a pinned
# version) into .cache/bin/registry-<version>; its Go build cache is removed after the build (the module cache
# under .cache/go/mod is shared and kept). The Docker engine pushes to 127.0.0.0/8 over plain HTTP by default
# (its built-in insecure-registry range), so no TLS or engine setting is needed.
set -euo pipefail

VERSION="v3.1.2"
MODULE="github.com/distribution/distribution/v3"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.cache/bin/registry-$VERSION"
say() { printf '[registry] %s\n' "$*" >&2; }
die() { printf '[registry] error: %s\n' "$*" >&2; exit 1; }

build() {
    [[ -x "$BIN" ]] && return 0
    command -v go >/dev/null 2>&1 || die "go not found: the registry is built from the Go module proxy ($MODULE/cmd/registry@$VERSION); install Go, or put a registry binary at $BIN"
    local t0=$SECONDS gocache
    mkdir -p "$ROOT/.cache/bin" "$ROOT/.cache/go"
    gocache="$(mktemp -d "$ROOT/.cache/go/build-registry-XXXXXX")"
    local gobin
    gobin="$(mktemp -d "$ROOT/.cache/go/bin-registry-XXXXXX")"
    say "building $MODULE/cmd/registry@$VERSION with go install (first time only; a few minutes)"
    if ! GOBIN="$gobin" GOMODCACHE="$ROOT/.cache/go/mod" GOCACHE="$gocache" GOFLAGS=-modcacherw CGO_ENABLED=0 \
        go install "$MODULE/cmd/registry@$VERSION" >&2; then
        rm -rf "$gocache" "$gobin"
        die "go install $MODULE/cmd/registry@$VERSION failed (output above)"
    fi
    mv "$gobin/registry" "$BIN"
    # The build cache is only needed to rebuild; the binary is keyed by version.
    rm -rf "$gocache" "$gobin"
    say "built $BIN in $((SECONDS - t0)) s ($(du -h "$BIN" | cut -f1))"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cmd_start() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || die "usage: registry.sh start DIR"
    build
    mkdir -p "$dir/storage"
    local port
    port="$(free_port)"
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
    OTEL_TRACES_EXPORTER=none setsid "$BIN" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
    local pid=$! t0=$SECONDS
    while (( SECONDS - t0 < 20 )); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$dir/registry.log" >&2; die "the registry exited while starting (log above)"; }
        if python3 -c "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$port/v2/', timeout=2).status == 200 else 1)" 2>/dev/null; then
            say "registry $VERSION serving $dir/storage on 127.0.0.1:$port (pid $pid)"
            printf 'REGISTRY_ADDR=127.0.0.1:%s\nREGISTRY_PID=%s\n' "$port" "$pid"
            return 0
        fi
        sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    die "the registry did not answer on 127.0.0.1:$port within 20 s (log: $dir/registry.log)"
}

cmd_stop() {
    local pid="${1:-}"
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "registry-$VERSION serve" || die "process $pid is not the registry this script starts; not stopping it"
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || { say "registry $pid stopped"; return 0; }; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-}" in
    build) build; printf '%s\n' "$BIN" ;;
    start) cmd_start "${2:-}" ;;
    stop) cmd_stop "${2:-}" ;;
    *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
