/**
 * What the faithful run needs besides the function's artifacts, each found or built under the cache and keyed by
 * its inputs, so it works from an npm install (no repository venv):
 *  - aws-lambda-rie: ML_LAMBDA_RIE, the cache, this repository's .cache/bin (scripts/setup-python.sh), PATH, or
 *    `go install` at the pinned version into the cache;
 *  - moto's server: ML_LAMBDA_MOTO_SERVER, or a venv with moto[server]==MOTO_VERSION under the cache (the build's
 *    one venv manager, components/venv.ts, run as `python -m moto.server`);
 *  - the runtime directory: runtime/ (/var/runtime: awslambdaric, the bootstrap) and site-packages/ (/var/lang's
 *    site-packages: boto3 and its dependencies, the "runtime-included libraries" of Python 3.11+), pinned, built for
 *    the runtime's Python and architecture, compiled to bytecode by that Python (the managed runtime ships compiled).
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { Architecture, Runtime } from "../../components/limits";
import { PIP, platformTags, toolsVenv } from "../../components/packaging/installers";
import { packageRoot } from "../../components/assets";
import { ensureVenv } from "../../components/venv";
import { isExecutable, onPath } from "../proc";
import { RunError } from "./types";

/** The emulator has no semver tags the Go proxy serves; the same pseudo-version as scripts/setup-python.sh. */
export const RIE_MODULE = "github.com/aws/aws-lambda-runtime-interface-emulator";
export const RIE_VERSION = "v0.0.0-20261030222936-bef5c4ba774d";
export const MOTO_VERSION = "5.2.5";

/**
 * The runtime's own packages, pinned with everything they pull in (resolved for cp312 manylinux x86_64 on
 * 2026-11-30), so the runtime directory is the same on every machine: the runtime interface client AWS's base images
 * run (in /var/runtime), and the SDK every Python runtime ships (in /var/lang's site-packages since 3.11).
 */
export const RIC_PACKAGES = ["awslambdaric==4.2.2", "simplejson==4.3.0", "snapshot-restore-py==1.0.0"];
export const SDK_PACKAGES = [
    "boto3==1.44.8",
    "botocore==1.44.8",
    "s3transfer==0.19.3",
    "jmespath==1.1.0",
    "python-dateutil==2.9.0.post0",
    "six==1.17.0",
    "urllib3==2.8.0",
];
export const RUNTIME_PACKAGES = [...RIC_PACKAGES, ...SDK_PACKAGES];

/** Files of ours that go into /var/runtime (cli/run/runtime/, next to this module in dist/ as in the sources). */
export const RUNTIME_FILES = ["bootstrap", "bootstrap.py", "ml_lambda_probe.py"];

type Log = (line: string) => void;

/** This package's root (the repository, or the installed package), or undefined when it cannot be found. */
function ownRoot(): string | undefined {
    try {
        return packageRoot();
    } catch {
        return undefined;
    }
}

// ---------------------------------------------------------------- sha256 with a stat-keyed memo

interface MemoEntry { size: number; mtimeMs: number; ino: number; sha256: string }

/**
 * hex sha256 of a file. A memo under the cache, keyed by path, size, mtime and inode, makes a repeated run of the
 * same artifacts (the benchmark starts the function dozens of times) cost a stat instead of reading 160 MB.
 */
export function fileSha256(file: string, cacheDir: string): string {
    const st = fs.statSync(file);
    const memoFile = path.join(cacheDir, "run", "sha256-memo.json");
    let memo: Record<string, MemoEntry> = {};
    try {
        memo = JSON.parse(fs.readFileSync(memoFile, "utf8"));
    } catch {
        memo = {};
    }
    const key = path.resolve(file);
    const hit = memo[key];
    if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs && hit.ino === st.ino) return hit.sha256;
    const h = crypto.createHash("sha256");
    const fd = fs.openSync(file, "r");
    try {
        const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
        for (;;) {
            const n = fs.readSync(fd, buf, 0, buf.length, null);
            if (n === 0) break;
            h.update(buf.subarray(0, n));
        }
    } finally {
        fs.closeSync(fd);
    }
    const sha256 = h.digest("hex");
    memo[key] = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, sha256 };
    try {
        fs.mkdirSync(path.dirname(memoFile), { recursive: true });
        const tmp = `${memoFile}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify(memo));
        fs.renameSync(tmp, memoFile); // atomic: a concurrent writer loses entries, never corrupts the file
    } catch {
        // A read-only cache only costs the next run a re-hash.
    }
    return sha256;
}

// ---------------------------------------------------------------- aws-lambda-rie

/**
 * ML_LAMBDA_RIE, then the pinned build under the cache, then the one this repository's setup script built (same
 * version), then PATH, then `go install` of the pinned version into the cache.
 */
export function findRie(cacheDir: string, env: NodeJS.ProcessEnv, log: Log, root: string | null = ownRoot() ?? null): string {
    const fromEnv = env.ML_LAMBDA_RIE;
    if (fromEnv) {
        if (isExecutable(fromEnv)) return fromEnv;
        throw new RunError(`aws-lambda-rie not found at ML_LAMBDA_RIE=${fromEnv}: fix the path, or unset it to use (or build) the pinned ${RIE_VERSION}`);
    }
    const cachedDir = path.join(cacheDir, "tools", `aws-lambda-rie-${RIE_VERSION}`);
    const cached = path.join(cachedDir, "aws-lambda-rie");
    if (isExecutable(cached)) return cached;
    if (root) {
        // This repository's scripts/setup-python.sh builds the same version into .cache/bin.
        const repo = path.join(root, ".cache", "bin", "aws-lambda-rie");
        const stamp = path.join(root, ".cache", "bin", "aws-lambda-rie.version");
        if (isExecutable(repo) && fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8").trim() === RIE_VERSION) return repo;
    }
    const fromPath = onPath("aws-lambda-rie", env);
    if (fromPath) return fromPath;
    const go = onPath("go", env);
    if (!go) {
        throw new RunError(`aws-lambda-rie not found (looked at ML_LAMBDA_RIE, ${cached} and PATH) and no Go toolchain to build it: ` +
            `install Go >= 1.26 (then this command builds ${RIE_MODULE}@${RIE_VERSION} itself), put aws-lambda-rie on PATH, or set ML_LAMBDA_RIE`);
    }
    log(`ml-lambda: building aws-lambda-rie ${RIE_VERSION} with go install into ${cachedDir} (once; about a minute)`);
    const tmp = `${cachedDir}.tmp-${process.pid}`;
    fs.mkdirSync(tmp, { recursive: true });
    try {
        const r = spawnSync(go, ["install", `${RIE_MODULE}/cmd/aws-lambda-rie@${RIE_VERSION}`], {
            stdio: ["ignore", 2, 2],
            env: { ...env, GOBIN: tmp, GOFLAGS: env.GOFLAGS ?? "-modcacherw" },
        });
        if (r.error || r.status !== 0) {
            throw new RunError(`\`go install ${RIE_MODULE}/cmd/aws-lambda-rie@${RIE_VERSION}\` failed (${r.error?.message ?? `exit ${r.status}`}; its output is above): ` +
                `check the network / GOPROXY, or set ML_LAMBDA_RIE to an aws-lambda-rie binary`, 1);
        }
        fs.rmSync(cachedDir, { recursive: true, force: true });
        fs.renameSync(tmp, cachedDir);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
    return cached;
}

// ---------------------------------------------------------------- moto

/** The command that starts moto's server: [ML_LAMBDA_MOTO_SERVER] or [venv python, "-m", "moto.server"]. */
export function findMotoServer(cacheDir: string, env: NodeJS.ProcessEnv, log: Log): string[] {
    const fromEnv = env.ML_LAMBDA_MOTO_SERVER;
    if (fromEnv) {
        if (isExecutable(fromEnv)) return [fromEnv];
        throw new RunError(`moto_server not found at ML_LAMBDA_MOTO_SERVER=${fromEnv}: fix the path, or unset it to use a managed moto[server]==${MOTO_VERSION}`);
    }
    try {
        const bin = ensureVenv({
            dir: path.join(cacheDir, "tools", `moto-${MOTO_VERSION}`),
            installs: [[`moto[server]==${MOTO_VERSION}`]],
            what: `moto[server]==${MOTO_VERSION} (serves the model object on 127.0.0.1)`,
            fix: "Or set ML_LAMBDA_MOTO_SERVER to a moto_server executable.",
            log,
        });
        return [path.join(bin, "python"), "-m", "moto.server"];
    } catch (e) {
        throw new RunError((e as Error).message.replace(/^ml-lambda: /, ""), 1);
    }
}

// ---------------------------------------------------------------- /var/runtime

/** Where our bootstrap files live: cli/run/runtime (sources) or dist/cli/run/runtime (npm install). */
export function runtimeFilesDir(): string {
    return path.join(__dirname, "runtime");
}

export function runtimeDirKey(runtime: Runtime, arch: Architecture): string {
    const files = RUNTIME_FILES.map((f) => [f, crypto.createHash("sha256").update(fs.readFileSync(path.join(runtimeFilesDir(), f))).digest("hex")]);
    return crypto.createHash("sha256").update(JSON.stringify({ v: 2, runtime, arch, ric: RIC_PACKAGES, sdk: SDK_PACKAGES, platforms: platformTags(runtime, arch), files })).digest("hex");
}

/**
 * The runtime directory for a runtime + architecture: `runtime/` (mounted as /var/runtime) and `site-packages/`
 * (mounted over /var/lang's site-packages, hiding the interpreter's own), built once (pip for the target's tags,
 * then compileall with the runtime's own interpreter) in a temporary directory and renamed into place.
 */
export function ensureRuntimeDir(o: { runtime: Runtime; arch: Architecture; python: string; cacheDir: string; log: Log }): { runtime: string; sitePackages: string } {
    const key = runtimeDirKey(o.runtime, o.arch);
    const dir = path.join(o.cacheDir, "run", "runtime", `${o.runtime}-${o.arch}-${key.slice(0, 16)}`);
    const result = { runtime: path.join(dir, "runtime"), sitePackages: path.join(dir, "site-packages") };
    if (fs.existsSync(path.join(dir, ".ml-lambda-ready"))) return result;
    const minor = o.runtime.replace(/^python/, "");
    o.log(`ml-lambda: building the runtime directory (awslambdaric, boto3 for ${o.runtime} ${o.arch}) in ${dir} (once)`);
    const toolsPython = path.join(toolsVenv(o.cacheDir, PIP, o.log), "python");
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    try {
        for (const [sub, packages] of [["runtime", RIC_PACKAGES], ["site-packages", SDK_PACKAGES]] as const) {
            const target = path.join(tmp, sub);
            fs.mkdirSync(target, { recursive: true });
            const args = ["-m", "pip", "install", "--target", target, "--only-binary=:all:", "--implementation", "cp",
                "--python-version", minor, "--abi", `cp${minor.replace(".", "")}`];
            for (const p of platformTags(o.runtime, o.arch)) args.push("--platform", p);
            args.push("--no-compile", "--no-deps", "--disable-pip-version-check", "--no-input", "--progress-bar", "off", "-q", ...packages);
            const pip = spawnSync(toolsPython, args, { stdio: ["ignore", 2, 2], env: { ...process.env, PIP_CACHE_DIR: path.join(o.cacheDir, "pip") } });
            if (pip.error || pip.status !== 0) {
                throw new RunError(`could not install the runtime's packages (${packages.join(" ")}) for ${o.runtime} ${o.arch}: ` +
                    `pip ${pip.error ? pip.error.message : `exited with ${pip.status}`} (its output is above); check the network / index settings`, 1);
            }
            fs.rmSync(path.join(target, "bin"), { recursive: true, force: true }); // console scripts name the tools venv's python
            fs.chmodSync(target, 0o755);
        }
        for (const f of RUNTIME_FILES) {
            fs.copyFileSync(path.join(runtimeFilesDir(), f), path.join(tmp, "runtime", f));
            fs.chmodSync(path.join(tmp, "runtime", f), f === "bootstrap" ? 0o755 : 0o644);
        }
        // Compiled with the runtime's own interpreter, hash-based so the mount's timestamps do not matter.
        const cc = spawnSync(o.python, ["-I", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", path.join(tmp, "runtime"), path.join(tmp, "site-packages")], { stdio: ["ignore", 2, 2] });
        if (cc.error || cc.status !== 0) throw new RunError(`compileall of the runtime directory with ${o.python} failed (${cc.error?.message ?? `exit ${cc.status}`})`, 1);
        fs.writeFileSync(path.join(tmp, ".ml-lambda-ready"), RUNTIME_PACKAGES.join("\n") + "\n");
        fs.rmSync(dir, { recursive: true, force: true });
        fs.renameSync(tmp, dir);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
    return result;
}
