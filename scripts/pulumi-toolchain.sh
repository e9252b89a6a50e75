#!/usr/bin/env bash
# The Pulumi toolchain of the e2e test (npm run test:e2e), built from Go modules for machines without a `pulumi`
# CLI and the aws plugin (like this project's CI). Prints the directory holding the binaries on its last line:
#   pulumi                          the Pulumi CLI, github.com/pulumi/pulumi/pkg/v3 at @pulumi/pulumi's version
#   pulumi-resource-aws             a TEST STAND-IN for the published pulumi-aws plugin: e2e/provider bridges the
#                                   upstream Terraform AWS provider with pulumi-terraform-bridge and maps only what
#                                   MlLambda registers, under @pulumi/aws 7.48.0's tokens
#   pulumi-analyzer-policy-nodejs   runs @pulumi/pulumi's cmd/run-policy-pack for `--policy-pack policy/`: the
#                                   engine falls back to it when no Node.js language host is installed (none is
#                                   built here: its Go module is not served by the module proxy)
# Built into .cache/pulumi-toolchain/<key>/bin, key = Go version + hash of every input (versions in the go.mod
# files, our provider code, the trimmed service list, this script): a warm machine skips the build. Go's build
# cache and the source copy are deleted once the binaries exist (a cold provider build fills several GB).
#
#   scripts/pulumi-toolchain.sh            build if missing, print the bin directory
#   scripts/pulumi-toolchain.sh --tidy     rewrite e2e/cli and e2e/provider go.mod/go.sum (after a version change)
# Env: ML_LAMBDA_CACHE_ROOT (default <repo>/.cache), GOMODCACHE (default <cache>/go/mod),
#      ML_LAMBDA_TOOLCHAIN_TRIM=all (default: upstream's service list and its AWS SDK client getters cut to what we
#      map) | services (the service list only) | none (upstream as published): the latter two only to measure the trim;
#      ML_LAMBDA_TOOLCHAIN_GOCACHE (a kept Go build cache, for work on this script).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ML_LAMBDA_CACHE_ROOT:-$ROOT/.cache}"
TIDY=0
[[ "${1:-}" == "--tidy" ]] && TIDY=1

say() { printf '[pulumi-toolchain] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Upstream service packages the provider registers: the services of the resource types in e2e/provider/main.go.
# Upstream's list has ~265; each one costs compile time and link memory (see the README's e2e section).
SERVICES=(appautoscaling cloudwatch ecr iam lambda logs s3)

command -v go >/dev/null || die "Go is not installed: the toolchain is built with the go command (1.26.3 or newer: terraform-provider-aws requires it). Install Go, or put a real \`pulumi\` on PATH (see README, 'Deploying for real')."
command -v node >/dev/null || die "node is not on PATH (the policy analyzer shim runs it)"
GOVER="$(go env GOVERSION)"
export GOTOOLCHAIN=local GOFLAGS=-modcacherw
export GOMODCACHE="${GOMODCACHE:-$CACHE/go/mod}"

PULUMI_VERSION="$(sed -n 's/^\tgithub.com\/pulumi\/pulumi\/pkg\/v3 \(v[^ ]*\).*/\1/p' "$ROOT/e2e/cli/go.mod")"
TFAWS_VERSION="$(sed -n 's/^\tgithub.com\/hashicorp\/terraform-provider-aws \(v[^ ]*\).*/\1/p' "$ROOT/e2e/provider/go.mod")"
[[ -n "$PULUMI_VERSION" && -n "$TFAWS_VERSION" ]] || die "cannot read versions from e2e/cli/go.mod and e2e/provider/go.mod"
TRIM="${ML_LAMBDA_TOOLCHAIN_TRIM:-all}"
[[ "$TRIM" =~ ^(all|services|none)$ ]] || die "ML_LAMBDA_TOOLCHAIN_TRIM=$TRIM: use all, services or none"

# Two keys, so a change to our provider code or recipe does not rebuild the CLI: each binary lives under its own key, and
# bin/ (keyed by both) holds links to them plus the analyzer shim.
script_commands() { grep -v '^[[:space:]]*#' "${BASH_SOURCE[0]}"; } # a reworded comment must not cost a rebuild
hash16() { sha256sum | cut -c1-16; }
# The CLI's key: only what its build uses (a change to the provider recipe below must not rebuild it).
CLI_LDFLAGS="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
CLI_KEY="$( { echo "$GOVER -trimpath $CLI_LDFLAGS"; cat "$ROOT/e2e/cli/go.mod" "$ROOT/e2e/cli/go.sum" || true; } 2>/dev/null | hash16)"
AWS_KEY="$( { echo "$GOVER trim=$TRIM services=${SERVICES[*]}"
    cat "$ROOT"/e2e/provider/go.mod "$ROOT"/e2e/provider/go.sum "$ROOT"/e2e/provider/*.go \
        "$ROOT/e2e/provider/upstream-export.go.txt" || true; script_commands; } 2>/dev/null | hash16)"
TC="$CACHE/pulumi-toolchain"
CLI_OUT="$TC/cli-$CLI_KEY"
AWS_OUT="$TC/aws-$AWS_KEY"
BIN="$TC/bin-$CLI_KEY-$AWS_KEY"

if [[ $TIDY == 0 && -x "$BIN/pulumi" && -x "$BIN/pulumi-resource-aws" && -x "$BIN/pulumi-analyzer-policy-nodejs" ]]; then
    say "up to date: $BIN (pulumi $PULUMI_VERSION, aws stand-in on terraform-provider-aws $TFAWS_VERSION)"
    echo "$BIN"
    exit 0
fi

mkdir -p "$BIN" "$CLI_OUT" "$AWS_OUT"
WORK="$TC/work-$$"
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
# ML_LAMBDA_TOOLCHAIN_GOCACHE: a Go build cache kept between runs (while changing the recipe); default: a fresh one.
export GOCACHE="${ML_LAMBDA_TOOLCHAIN_GOCACHE:-$WORK/gocache}"
# Build figures (wall time, peak RSS of the go command incl. compiler and linker, binary size), for the README.
timed() { # timed OUTDIR NAME CMD...: runs CMD under /usr/bin/time -v when present, appends to OUTDIR/build-metrics.txt
    local out="$1" name="$2"; shift 2
    local t0=$SECONDS
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -v -o "$WORK/$name.time" "$@"
        echo "$name seconds=$((SECONDS - t0)) max_rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/$name.time")" >>"$out/build-metrics.txt"
    else
        "$@"
        echo "$name seconds=$((SECONDS - t0))" >>"$out/build-metrics.txt"
    fi
}
started=$SECONDS

# --- 1. the CLI -------------------------------------------------------------------------------------------------
if [[ $TIDY == 1 ]]; then
    (cd "$ROOT/e2e/cli" && go mod tidy)
fi
if [[ ! -x "$CLI_OUT/pulumi" && $TIDY == 0 ]]; then
    say "building the Pulumi CLI $PULUMI_VERSION from Go modules (cold: ~5 min and ~1 GB of downloads)"
    : >"$CLI_OUT/build-metrics.txt"
    (cd "$ROOT/e2e/cli" && timed "$CLI_OUT" pulumi go build -trimpath -ldflags "$CLI_LDFLAGS" \
        -o "$CLI_OUT/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
    mv "$CLI_OUT/pulumi.tmp" "$CLI_OUT/pulumi"
    echo "pulumi bytes=$(stat -c %s "$CLI_OUT/pulumi")" >>"$CLI_OUT/build-metrics.txt"
    say "pulumi: $("$CLI_OUT/pulumi" version) ($(du -m "$CLI_OUT/pulumi" | cut -f1) MB) after $((SECONDS - started)) s"
fi

# --- 2. the policy analyzer shim ---------------------------------------------------------------------------------
# The engine starts it in the policy pack's directory with "<engine address> ."; @pulumi/pulumi resolves from
# there (policy/ has no node_modules of its own: node walks up to the project's).
cat >"$BIN/pulumi-analyzer-policy-nodejs" <<'SH'
#!/bin/sh
# Stand-in for the script a Pulumi release ships: runs the policy pack with the project's @pulumi/pulumi.
run="$(node -p "require.resolve('@pulumi/pulumi/cmd/run-policy-pack', { paths: [process.cwd()] })")" || {
    echo "pulumi-analyzer-policy-nodejs: @pulumi/pulumi not found from $(pwd): run npm install" >&2; exit 1; }
exec node "$run" "$@"
SH
chmod +x "$BIN/pulumi-analyzer-policy-nodejs"

# --- 3. the aws provider stand-in ---------------------------------------------------------------------------------
if [[ ! -x "$AWS_OUT/pulumi-resource-aws" || $TIDY == 1 ]]; then
    say "fetching terraform-provider-aws $TFAWS_VERSION (module source, ~300 MB unpacked)"
    UPSTREAM_DIR="$(cd "$WORK" && GOFLAGS=-modcacherw go mod download -json "github.com/hashicorp/terraform-provider-aws@$TFAWS_VERSION" \
        | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    [[ -d "$UPSTREAM_DIR" ]] || die "go mod download of terraform-provider-aws@$TFAWS_VERSION gave no directory"
    # The local copy: upstream's packages without docs, tests and test data, plus one exported file.
    mkdir -p "$WORK/upstream"
    tar -C "$UPSTREAM_DIR" --exclude=./website --exclude=./docs --exclude=./examples --exclude=./infrastructure \
        --exclude='*_test.go' --exclude=testdata -cf - . | tar -C "$WORK/upstream" -xf -
    chmod -R u+w "$WORK/upstream"
    mkdir -p "$WORK/upstream/mllambda"
    cp "$ROOT/e2e/provider/upstream-export.go.txt" "$WORK/upstream/mllambda/provider.go"
    gen="$WORK/upstream/internal/provider/sdkv2/service_packages_gen.go"
    [[ -f "$gen" ]] || die "upstream has no $gen any more: update the trim in scripts/pulumi-toolchain.sh"
    if [[ "$TRIM" != none ]]; then
        # Upstream's provider imports every service package through this generated list; ours registers only
        # the services we map, so the others are neither compiled nor linked.
        {
            echo "// Trimmed by pulumi-ml-lambda's scripts/pulumi-toolchain.sh: only the services the e2e provider maps."
            echo "package sdkv2"
            echo "import ("
            echo '	"context"'
            echo '	"slices"'
            echo '	"github.com/hashicorp/terraform-provider-aws/internal/conns"'
            for s in "${SERVICES[@]}"; do echo "	\"github.com/hashicorp/terraform-provider-aws/internal/service/$s\""; done
            echo ")"
            echo "func servicePackages(ctx context.Context) []conns.ServicePackage {"
            echo "	v := []conns.ServicePackage{"
            for s in "${SERVICES[@]}"; do echo "		$s.ServicePackage(ctx),"; done
            echo "	}"
            echo "	return slices.Clone(v)"
            echo "}"
        } >"$gen"
    fi
    if [[ "$TRIM" == all ]]; then
        # conns.AWSClient has a client getter for every AWS SDK service (~265 SDK packages compiled and linked
        # whatever the provider serves): keep only the getters that the code still compiled here calls.
        python3 - "$WORK/upstream" <<'PY'
import os, re, sys
root = sys.argv[1]
module = "github.com/hashicorp/terraform-provider-aws"
gen = os.path.join(root, "internal", "conns", "awsclient_gen.go")

def go_files(pkg_dir):
    return [os.path.join(pkg_dir, f) for f in os.listdir(pkg_dir) if f.endswith(".go") and not f.endswith("_test.go")]

# The upstream packages the provider compiles: imports followed from our exported package (the trimmed
# service list decides which services are reached; a kept service may import another one).
seen, todo = set(), ["mllambda"]
while todo:
    rel = todo.pop()
    if rel in seen or not os.path.isdir(os.path.join(root, rel)):
        continue
    seen.add(rel)
    for path in go_files(os.path.join(root, rel)):
        src = open(path, errors="replace").read()
        for block in re.findall(r"^import \((.*?)^\)", src, re.M | re.S) + re.findall(r'^import (?:\w+ )?("[^"]+")', src, re.M):
            for imp in re.findall(r'"(' + re.escape(module) + r'/[^"]+)"', block):
                todo.append(imp[len(module) + 1:])
used = set()
for rel in seen:
    for path in go_files(os.path.join(root, rel)):
        if path != gen:
            used.update(re.findall(r"\.(\w+Client)\(", open(path, errors="replace").read()))
src = open(gen).read()
method_re = re.compile(r"^func \(c \*AWSClient\) (\w+)\(ctx context\.Context\) \*(\w+)\.Client \{\n.*?^\}\n\n?", re.M | re.S)
kept, dropped = [], []
def keep(m):
    (kept if m.group(1) in used else dropped).append(m.group(1))
    return m.group(0) if m.group(1) in used else ""
head, body = method_re.sub(keep, src).split("\n)\n", 1)
head = re.sub(r'^\t(?:(\w+) )?"(github\.com/aws/aws-sdk-go-v2/service/[^"]+)"\n',
              lambda m: m.group(0) if re.search(r"\b" + re.escape(m.group(1) or m.group(2).rsplit("/", 1)[-1]) + r"\.", body) else "",
              head, flags=re.M)
open(gen, "w").write(head + "\n)\n" + body)
print(f"[pulumi-toolchain] {len(seen)} upstream packages compiled; AWSClient getters kept: {len(kept)} "
      f"({', '.join(sorted(kept))}); dropped: {len(dropped)}", file=sys.stderr)
PY
        gofmt -w "$WORK/upstream/internal/conns/awsclient_gen.go"
    fi
    mkdir -p "$WORK/provider"
    cp "$ROOT"/e2e/provider/go.mod "$ROOT"/e2e/provider/*.go "$WORK/provider/"
    [[ -f "$ROOT/e2e/provider/go.sum" ]] && cp "$ROOT/e2e/provider/go.sum" "$WORK/provider/"
    if [[ $TIDY == 1 ]]; then
        (cd "$WORK/provider" && go mod tidy)
        cp "$WORK/provider/go.mod" "$WORK/provider/go.sum" "$ROOT/e2e/provider/"
        say "tidied e2e/cli and e2e/provider; run again without --tidy to build"
        exit 0
    fi
    # go.mod/go.sum are tidied for the default trim; a measuring build with more of upstream needs more modules.
    if [[ "$TRIM" != all ]]; then (cd "$WORK/provider" && go mod tidy); fi
    say "building the aws provider stand-in (services: ${SERVICES[*]}; trim: $TRIM; cold: compile + link take minutes and GBs of RAM)"
    : >"$AWS_OUT/build-metrics.txt"
    (cd "$WORK/provider" && timed "$AWS_OUT" pulumi-resource-aws go build -trimpath -ldflags "-s -w" -o "$AWS_OUT/pulumi-resource-aws.tmp" .)
    mv "$AWS_OUT/pulumi-resource-aws.tmp" "$AWS_OUT/pulumi-resource-aws"
    echo "pulumi-resource-aws bytes=$(stat -c %s "$AWS_OUT/pulumi-resource-aws") services=${#SERVICES[@]} trim=$TRIM" >>"$AWS_OUT/build-metrics.txt"
    say "pulumi-resource-aws: $(du -m "$AWS_OUT/pulumi-resource-aws" | cut -f1) MB after $((SECONDS - started)) s"
fi
ln -sfn "$CLI_OUT/pulumi" "$BIN/pulumi"
ln -sfn "$AWS_OUT/pulumi-resource-aws" "$BIN/pulumi-resource-aws"

say "built in $((SECONDS - started)) s; figures: $(cat "$CLI_OUT/build-metrics.txt" "$AWS_OUT/build-metrics.txt" 2>/dev/null | tr '\n' ';')"
# (the EXIT trap deletes the build cache and the source copy: large, and not needed once the binaries exist)
echo "$BIN"
