#!/usr/bin/env bash
# A LOCAL STAND-IN for AWS's Lambda Python base image (public.ecr.aws/lambda/python:<version>), which cannot be
# pulled on machines without access to that registry. It is NOT AWS's image: see "The image path, tested locally"
# in README.md for how it differs from Amazon Linux 2023.
#
#   bash scripts/lambda-base-standin.sh [3.12|3.13]     prints the image tag on stdout (progress on stderr)
#
# What it reproduces of AWS's image (its Dockerfile and the files it ships):
#   /var/lang                 CPython of the runtime's minor version (here: pyenv's build, same minor)
#   /var/lang/lib/pythonX.Y/site-packages   boto3 (pinned) and pip: "runtime-included libraries" since python3.11
#   /var/runtime              awslambdaric (pinned) + bootstrap (sets AWS_EXECUTION_ENV, execs bootstrap.py) +
#                             bootstrap.py (AWS's sys.path order: task root, /opt/python/lib/pythonX.Y/site-packages,
#                             /opt/python, /var/lang site-packages, then the interpreter's own path)
#   /usr/local/bin/aws-lambda-rie   the runtime interface emulator (.cache/bin, built by scripts/setup-python.sh)
#   /lambda-entrypoint.sh     exports _HANDLER=$1; starts the emulator when AWS_LAMBDA_RUNTIME_API is unset,
#                             else execs /var/runtime/bootstrap (what Lambda does)
#   ENV LANG, TZ, PATH, LD_LIBRARY_PATH, LAMBDA_TASK_ROOT=/var/task, LAMBDA_RUNTIME_DIR=/var/runtime, WORKDIR
#   /var/task, ENTRYPOINT ["/lambda-entrypoint.sh"]: the values of AWS's Dockerfile.
# The OS underneath is Debian 12 minbase from debootstrap (glibc 2.36), plus the shared libraries CPython links.
#
# Built once per set of inputs: the tag ends in a hash of this script, the interpreter, the pins, the emulator
# binary and debootstrap's version; an existing image with that tag is reused as is. The debootstrap stage is
# also kept as a tarball under .cache/lambda-base/ (keyed the same way) so a wiped Docker data root costs no
# download. A second, thin layer adds this machine's CA bundle (so pip inside builds trusts what the host
# trusts, a TLS-inspecting proxy included); it is keyed by the bundle's hash and takes a second to redo.
set -euo pipefail

PY_MINOR="${1:-3.12}"
SUITE=bookworm
MIRROR="${ML_LAMBDA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Shared libraries the interpreter's modules link (ldd of lib-dynload, tkinter left out) and what pip needs.
INCLUDE="ca-certificates,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libreadline8,libncursesw6,libuuid1,libexpat1,libcrypt1,libnsl2,libtirpc3,libbsd0,libmd0"
PIP_PIN="pip==26.3"
BOTO3_PIN="boto3==1.44.8"              # the dev venv's pin (python/requirements-dev.txt)
AWSLAMBDARIC_PIN="awslambdaric==4.2.2" # idem
REPO_TAG="ml-lambda/lambda-python-standin"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/lambda-base"
RIE="${ML_LAMBDA_RIE:-$ROOT/.cache/bin/aws-lambda-rie}"
say() { printf '[lambda-base] %s\n' "$*" >&2; }
die() { printf '[lambda-base] error: %s\n' "$*" >&2; exit 1; }
started=$SECONDS

case "$PY_MINOR" in 3.12|3.13|3.14) ;; *) die "runtime Python $PY_MINOR: the stand-in is for python3.12-3.14 (Amazon Linux 2023 runtimes)";; esac

# ---------------------------------------------------------------- inputs
find_python() {
    if [[ -n "${ML_LAMBDA_RUNTIME_PYTHON:-}" ]]; then printf '%s' "$ML_LAMBDA_RUNTIME_PYTHON"; return; fi
    local c
    for c in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$PY_MINOR".*/bin/python"$PY_MINOR" 2>/dev/null | sort -V -r); do
        [[ -x "$c" ]] && { printf '%s' "$c"; return; }
    done
    return 1
}
PYTHON="$(find_python)" || die "no CPython $PY_MINOR found (looked at ML_LAMBDA_RUNTIME_PYTHON and ~/.pyenv/versions/$PY_MINOR.*): install it (pyenv install $PY_MINOR) or set ML_LAMBDA_RUNTIME_PYTHON"
PREFIX="$("$PYTHON" -c 'import sys; print(sys.base_prefix)')"
[[ "$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" == "$PY_MINOR" ]] || die "$PYTHON is not Python $PY_MINOR"
[[ -x "$RIE" ]] || die "aws-lambda-rie not found at $RIE: run bash scripts/setup-python.sh (or set ML_LAMBDA_RIE)"
command -v docker >/dev/null 2>&1 || die "no docker CLI: run bash scripts/docker-engine.sh start first"
docker version >/dev/null 2>&1 || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}): eval \"\$(bash scripts/docker-engine.sh start)\" first"

libpython="$(ls "$PREFIX"/lib/libpython"$PY_MINOR"*.so.1.0 2>/dev/null | head -1 || true)"
key="$( {
    cat "${BASH_SOURCE[0]}"
    "$PYTHON" -VV
    sha256sum "$PYTHON" ${libpython:+"$libpython"} | cut -d' ' -f1
    sha256sum "$RIE" | cut -d' ' -f1
    dpkg-query -W -f '${Version}' debootstrap 2>/dev/null || true
} | sha256sum | cut -c1-12)"
CORE_TAG="$REPO_TAG:$PY_MINOR-core-$key"

CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
ca_key="none"
[[ -f "$CA_BUNDLE" ]] && ca_key="$(sha256sum "$CA_BUNDLE" | cut -c1-8)"
TAG="$REPO_TAG:$PY_MINOR-$key-ca$ca_key"

if docker image inspect "$TAG" >/dev/null 2>&1; then
    say "stand-in up to date: $TAG"
    printf '%s\n' "$TAG"
    exit 0
fi

# ---------------------------------------------------------------- core image (cached by inputs)
build_core() {
    [[ "$(id -u)" == 0 ]] || die "building the stand-in needs root (debootstrap, chroot)"
    command -v debootstrap >/dev/null 2>&1 || {
        say "installing debootstrap with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2 || die "apt-get install debootstrap failed"
    }
    mkdir -p "$CACHE"
    # One build at a time; then what an interrupted build left behind can go.
    exec 7>"$CACHE/.lock"
    flock 7
    if docker image inspect "$CORE_TAG" >/dev/null 2>&1; then say "core image built meanwhile by another run: $CORE_TAG"; return 0; fi
    rm -rf "$CACHE"/.build-*
    local boot_key boot_tar rootfs t0
    boot_key="$(printf '%s %s %s %s' "$SUITE" "$INCLUDE" "$(dpkg-query -W -f '${Version}' debootstrap)" "$MIRROR" | sha256sum | cut -c1-12)"
    boot_tar="$CACHE/debootstrap-$SUITE-minbase-$boot_key.tar"
    WORK="$(mktemp -d "$CACHE/.build-XXXXXX")"
    trap 'rm -rf "$WORK"' EXIT
    rootfs="$WORK/rootfs"
    mkdir -p "$rootfs"
    if [[ -f "$boot_tar" ]]; then
        say "Debian $SUITE minbase: reusing $boot_tar"
        tar -C "$rootfs" -xf "$boot_tar"
    else
        t0=$SECONDS
        say "debootstrap --variant=minbase $SUITE from $MIRROR (downloads ~40 MB of packages)"
        debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
            || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
        # Package caches and lists are build debris, not part of the OS an image needs.
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
        tar -C "$rootfs" -cf "$boot_tar.tmp" . && mv "$boot_tar.tmp" "$boot_tar"
        say "debootstrap done in $((SECONDS - t0)) s ($(du -sh "$boot_tar" | cut -f1) tarball kept in .cache/lambda-base)"
    fi

    t0=$SECONDS
    say "CPython $("$PYTHON" -c 'import platform; print(platform.python_version())') from $PREFIX -> /var/lang (no test suite, tkinter, idle, site-packages)"
    mkdir -p "$rootfs/var/lang"
    # The interpreter's own site-packages is left out: it is this machine's (it may hold local .pth hooks).
    tar -C "$PREFIX" \
        --exclude="./lib/python$PY_MINOR/test" --exclude="./lib/python$PY_MINOR/idlelib" \
        --exclude="./lib/python$PY_MINOR/tkinter" --exclude="./lib/python$PY_MINOR/turtledemo" \
        --exclude="./lib/python$PY_MINOR/lib-dynload/_tkinter*" --exclude="./lib/python$PY_MINOR/site-packages" \
        --exclude="./bin/pip*" --exclude="./bin/idle*" --exclude="./share" \
        -cf - . | tar -C "$rootfs/var/lang" -xf -
    mkdir -p "$rootfs/var/lang/lib/python$PY_MINOR/site-packages"
    ln -sf "python$PY_MINOR" "$rootfs/var/lang/bin/python3"
    ln -sf python3 "$rootfs/var/lang/bin/python"

    local site="$rootfs/var/lang/lib/python$PY_MINOR/site-packages"
    say "pip, $BOTO3_PIN -> /var/lang site-packages; $AWSLAMBDARIC_PIN -> /var/runtime (binary wheels for CPython $PY_MINOR)"
    local pipargs=(--disable-pip-version-check --no-cache-dir --progress-bar off --only-binary=:all: --no-compile
                   --python-version "$PY_MINOR" --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --implementation cp)
    export PIP_ROOT_USER_ACTION=ignore
    "$PYTHON" -m pip install -q "${pipargs[@]}" --target "$site" "$PIP_PIN" "$BOTO3_PIN" >&2
    mkdir -p "$rootfs/var/runtime"
    "$PYTHON" -m pip install -q "${pipargs[@]}" --target "$rootfs/var/runtime" "$AWSLAMBDARIC_PIN" >&2
    for name in pip pip3 "pip$PY_MINOR"; do
        printf '#!/var/lang/bin/python%s\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n' "$PY_MINOR" >"$rootfs/var/lang/bin/$name"
        chmod 755 "$rootfs/var/lang/bin/$name"
    done

    # Lambda's runtime bootstrap: what /var/runtime/bootstrap and bootstrap.py do in AWS's python images.
    cat >"$rootfs/var/runtime/bootstrap" <<EOF
#!/bin/bash
# Stand-in for the Lambda Python runtime's bootstrap: name the execution environment, run bootstrap.py with the
# runtime's interpreter (through AWS_LAMBDA_EXEC_WRAPPER when one is configured).
export AWS_EXECUTION_ENV=AWS_Lambda_python$PY_MINOR
if [ -z "\$AWS_LAMBDA_EXEC_WRAPPER" ]; then
  exec /var/lang/bin/python$PY_MINOR /var/runtime/bootstrap.py
fi
if [ ! -f "\$AWS_LAMBDA_EXEC_WRAPPER" ]; then echo "\$AWS_LAMBDA_EXEC_WRAPPER: does not exist"; exit 127; fi
if [ ! -x "\$AWS_LAMBDA_EXEC_WRAPPER" ]; then echo "\$AWS_LAMBDA_EXEC_WRAPPER: is not an executable"; exit 126; fi
exec -- "\$AWS_LAMBDA_EXEC_WRAPPER" /var/lang/bin/python$PY_MINOR /var/runtime/bootstrap.py
EOF
    cat >"$rootfs/var/runtime/bootstrap.py" <<'EOF'
"""Stand-in for the Lambda Python runtime's bootstrap.py: the module search path Lambda documents, then the
runtime interface client. Without PYTHONPATH: task root, /opt/python/lib/pythonX.Y/site-packages, /opt/python,
/var/lang site-packages, then the interpreter's own path (this file's directory, /var/runtime, first)."""
import os
import site
import sys

import awslambdaric.__main__ as ric

VERSION = "%d.%d" % sys.version_info[:2]
OPT_SITE = "/opt/python/lib/python%s/site-packages" % VERSION
OPT = "/opt/python"
LANG_SITE = "/var/lang/lib/python%s/site-packages" % VERSION


def main():
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    own_pythonpath = "PYTHONPATH" in os.environ
    if not own_pythonpath:
        for path in (LANG_SITE, OPT, OPT_SITE):
            sys.path.insert(0, path)
    sys.path.insert(0, task_root)
    # .pth files in the task root and the layers' directories are honoured, as on Lambda.
    site.addsitedir(task_root)
    if not own_pythonpath:
        site.addsitedir(OPT_SITE)
        site.addsitedir(OPT)
        # The documented value of PYTHONPATH for child processes.
        os.environ["PYTHONPATH"] = os.environ["LAMBDA_RUNTIME_DIR"]
    ric.main([task_root, os.environ["_HANDLER"]])


if __name__ == "__main__":
    main()
EOF
    chmod 755 "$rootfs/var/runtime/bootstrap"

    install -D -m 755 "$RIE" "$rootfs/usr/local/bin/aws-lambda-rie"
    cat >"$rootfs/lambda-entrypoint.sh" <<'EOF'
#!/bin/sh
# Stand-in for the AWS base image's entrypoint: the image's CMD is the handler; on Lambda AWS_LAMBDA_RUNTIME_API
# is set and the runtime bootstrap runs directly, elsewhere the runtime interface emulator serves it on :8080.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie /var/runtime/bootstrap
fi
exec /var/runtime/bootstrap
EOF
    chmod 755 "$rootfs/lambda-entrypoint.sh"
    mkdir -p "$rootfs/var/task" "$rootfs/opt"
    # Bytecode for what we installed, hash-based and unchecked: the image's file system is read-only at run time.
    # The interpreter finds libpython through LD_LIBRARY_PATH=/var/lang/lib, as in the image's ENV.
    local in_root=(chroot "$rootfs" /usr/bin/env -i PATH=/var/lang/bin:/usr/bin:/bin LD_LIBRARY_PATH=/var/lang/lib LANG=C.UTF-8)
    "${in_root[@]}" /var/lang/bin/python3 -m compileall -q --invalidation-mode unchecked-hash \
        /var/runtime "/var/lang/lib/python$PY_MINOR/site-packages" >/dev/null
    "${in_root[@]}" /var/lang/bin/python3 -c "import sys; sys.path.insert(0, '/var/runtime'); import awslambdaric, boto3, ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid, readline; print('imports ok')" >&2 \
        || die "the assembled runtime cannot import its own modules (a shared library is missing from --include?)"
    say "runtime assembled in $((SECONDS - t0)) s; importing into Docker as $CORE_TAG"
    t0=$SECONDS
    tar -C "$rootfs" --numeric-owner -cf - . | docker import \
        --change 'ENV LANG=en_US.UTF-8' \
        --change 'ENV TZ=:/etc/localtime' \
        --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin' \
        --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
        --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
        --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
        --change 'WORKDIR /var/task' \
        --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
        --message "ml-lambda local stand-in for public.ecr.aws/lambda/python:$PY_MINOR (Debian $SUITE minbase), inputs $key" \
        - "$CORE_TAG" >/dev/null
    say "imported in $((SECONDS - t0)) s"
    rm -rf "$WORK"
    trap - EXIT
}

if docker image inspect "$CORE_TAG" >/dev/null 2>&1; then
    say "core image up to date: $CORE_TAG"
else
    build_core
fi

# ---------------------------------------------------------------- this machine's CA bundle (thin layer)
if [[ -f "$CA_BUNDLE" ]]; then
    # No command given: the committed image keeps the core's config (no CMD, as in AWS's image).
    ctr="$(docker create "$CORE_TAG")"
    docker cp "$CA_BUNDLE" "$ctr:/etc/ssl/certs/ca-certificates.crt" >/dev/null
    docker commit --message "this machine's CA bundle ($CA_BUNDLE, sha256 $ca_key...)" "$ctr" "$TAG" >/dev/null
    docker rm "$ctr" >/dev/null
else
    docker tag "$CORE_TAG" "$TAG"
fi
# Older stand-ins of this Python version only fill the disk.
for old in $(docker images --format '{{.Repository}}:{{.Tag}}' "$REPO_TAG" | grep ":$PY_MINOR-" | grep -v -x -e "$TAG" -e "$CORE_TAG" || true); do
    docker rmi "$old" >/dev/null 2>&1 && say "removed the older stand-in $old" || true
done
say "stand-in ready in $((SECONDS - started)) s: $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
printf '%s\n' "$TAG"
