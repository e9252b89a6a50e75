/**
 * Compiled bytecode for what Lambda mounts read-only. /opt (layers) and /var/task (code) cannot be written, so a
 * function shipped without .pyc files compiles every module it imports again at every cold start (CPython cannot
 * cache the result). Shipping `__pycache__/*.cpython-3XX.pyc` beside the sources saves that work.
 *
 * How, and why so:
 *  - with the runtime's own minor version (components/runtimePython.ts, the interpreter the faithful run mounts):
 *    a .pyc carries its version's magic number and is ignored by any other;
 *  - `--invalidation-mode unchecked-hash`: the header holds a hash of the source instead of its mtime, and the
 *    import system does not check it, so the zip's fixed timestamps cannot make the bytecode look stale, and no
 *    source is read at import;
 *  - `-s <tree> -p <where Lambda mounts it>`: tracebacks and `__file__`-based code see /opt/python/... and
 *    /var/task/..., not this machine's build directory;
 *  - an environment without this machine's PYTHON* variables, and PYTHONHASHSEED=0: marshal sorts frozenset
 *    constants since 3.11 (bpo-37596), so the seed is only a guard for whatever else may follow hash order.
 *    Two builds of the same sources, in other directories with other mtimes, are byte-identical
 *    (test/packaging-fast-start.spec.ts checks it).
 * A source file the runtime's compiler refuses (a package shipping a Python-2-only or template file) is left without
 * bytecode and listed in `failed`; the build goes on (CPython would refuse to import it on Lambda too).
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { Runtime } from "../limits";
import { findRuntimePython, RuntimePython, RuntimePythonError } from "../runtimePython";
import { zipDirectory } from "./archive";
import type { LayerBuild } from "./layer";
import { commitEntry, readEntry, tempEntry } from "./layerCache";
import { walkTree } from "./tree";

/** Bump when the compile's output for the same inputs changes (flags, layout). Part of every bytecode cache key. */
export const BYTECODE_VERSION = 1;

/** Where Lambda mounts the layers' content and the function code. */
export const LAYER_MOUNT = "/opt";
export const CODE_MOUNT = "/var/task";

/** The runtime's Python for compiling, or why there is none (the plan warns and builds without bytecode). */
export type CompilerLookup = { ok: true; python: RuntimePython } | { ok: false; why: string };

export function bytecodeCompiler(runtime: Runtime, env: NodeJS.ProcessEnv = process.env): CompilerLookup {
    try {
        return { ok: true, python: findRuntimePython(runtime, env) };
    } catch (e) {
        if (e instanceof RuntimePythonError) return { ok: false, why: e.message };
        throw e;
    }
}

/** The compile command's arguments after the interpreter (asserted exactly by the tests). */
export function compileArgs(dir: string, mountedAt: string): string[] {
    // -s: no user site-packages. Not -I/-E: they would ignore PYTHONHASHSEED (see the header).
    return ["-s", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-s", dir, "-p", mountedAt, dir];
}

/** The compile's environment: nothing from this machine's PYTHON* variables, a fixed hash seed. */
export function compileEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    return { PATH: env.PATH ?? "/usr/bin:/bin", LC_ALL: "C.UTF-8", PYTHONHASHSEED: "0" };
}

export interface CompileResult {
    /** The compiling interpreter's version, e.g. "3.12.1". */
    python: string;
    pycFiles: number;
    pycBytes: number;
    /** Sources the compiler refused (relative to the tree), each without bytecode. */
    failed: string[];
    seconds: number;
}

/** Compiles every .py under `dir` in place (into __pycache__/), recorded as if `dir` were mounted at `mountedAt`. */
export function compileTree(dir: string, mountedAt: string, python: RuntimePython): CompileResult {
    const abs = path.resolve(dir);
    const started = Date.now();
    const r = spawnSync(python.executable, compileArgs(abs, mountedAt), { env: compileEnv(), encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw new Error(`compiling bytecode with ${python.executable} failed to start: ${r.error.message}`);
    // compileall exits 1 when some file did not compile (and says which); anything else is a failure of the run.
    const failed = [...(r.stdout + r.stderr).matchAll(/\*\*\* Error compiling '([^']+)'/g)].map((m) => path.relative(abs, m[1]));
    if (r.status !== 0 && !(r.status === 1 && failed.length > 0)) {
        throw new Error(`compiling bytecode with ${python.executable} failed (exit ${r.status}): ${(r.stderr || r.stdout).slice(-2000)}`);
    }
    let pycFiles = 0;
    let pycBytes = 0;
    for (const f of walkTree(abs).files) {
        if (f.rel.endsWith(".pyc")) {
            pycFiles++;
            pycBytes += f.size;
        }
    }
    return { python: python.version, pycFiles, pycBytes, failed: failed.sort(), seconds: (Date.now() - started) / 1000 };
}

/** What a bytecode entry records about its compile (LayerBuild.bytecode). */
export interface BytecodeInfo extends CompileResult {
    /** The key of the layer entry it was compiled from (same sources). */
    baseKey: string;
    mountedAt: string;
}

/** The key of the bytecode variant of layer entry `baseKey`: the sources' key, the compiler's version, the flags. */
export function bytecodeLayerKey(baseKey: string, python: Pick<RuntimePython, "version">): string {
    const input = { base: baseKey, bytecode: BYTECODE_VERSION, python: python.version, args: compileArgs("<tree>", LAYER_MOUNT) };
    return crypto.createHash("sha256").update(JSON.stringify(input)).digest("hex");
}

/**
 * The layer `base` with its bytecode: a cache entry of its own (layers/<bytecodeLayerKey>/), built once from the
 * base entry's tree (hard links: the sources are not copied) and zipped. The base entry stays as it is: the plan
 * measures both and deploys the one the delivery decision picks (packaging/delivery.ts).
 */
export function layerWithBytecode(base: LayerBuild, python: RuntimePython, cacheDir: string, log: (l: string) => void): LayerBuild {
    if (!base.zipPath) throw new Error(`layer ${base.key.slice(0, 12)} has no zip (missing wheels or over the limit): no bytecode variant`);
    const layersDir = path.join(path.resolve(cacheDir), "layers");
    const key = bytecodeLayerKey(base.key, python);
    const cached = readEntry(layersDir, key);
    if (cached) return cached;
    const tmp = tempEntry(layersDir, key);
    const started = Date.now();
    try {
        const tree = path.join(tmp, "layer");
        linkTree(base.dir, tree);
        log(`ml-lambda: compiling the layer's bytecode with CPython ${python.version} (${python.executable}), key ${key.slice(0, 12)}`);
        const compiled = compileTree(tree, LAYER_MOUNT, python);
        const z = zipDirectory(tree, path.join(tmp, "layer.zip")); // its measurement is measureDir(tree)'s
        const { entry } = commitEntry(layersDir, tmp, {
            ...stripEntry(base),
            key,
            zipPath: "layer.zip",
            zipBytes: z.bytes,
            zipSha256: z.sha256,
            measurement: z.measurement,
            buildMs: Date.now() - started,
            bytecode: { ...compiled, baseKey: base.key, mountedAt: LAYER_MOUNT },
        });
        log(`ml-lambda: layer bytecode: ${compiled.pycFiles} .pyc, ${compiled.pycBytes.toLocaleString("en-US")} bytes` +
            (compiled.failed.length ? `; ${compiled.failed.length} source(s) the compiler refused (left as source): ${compiled.failed.slice(0, 3).join(", ")}` : "") +
            `, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return entry;
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

function stripEntry(b: LayerBuild): Omit<LayerBuild, "dir" | "cacheHit"> {
    const { dir: _dir, cacheHit: _hit, ...rest } = b;
    return rest;
}

/** A copy of `src` at `dest` whose files are hard links (a plain copy where linking is refused). */
export function linkTree(src: string, dest: string): void {
    fs.mkdirSync(dest, { recursive: true });
    for (const ent of fs.readdirSync(src, { withFileTypes: true })) {
        const from = path.join(src, ent.name);
        const to = path.join(dest, ent.name);
        if (ent.isDirectory()) linkTree(from, to);
        else if (ent.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), to);
        else {
            try {
                fs.linkSync(from, to);
            } catch {
                fs.copyFileSync(from, to);
            }
        }
    }
}

/**
 * The function code with its bytecode: the files the code zip would hold (the same excludes) copied into `stage`
 * (emptied first), then compiled as mounted at /var/task. Zip `stage` without excluding __pycache__.
 */
export function stageCodeWithBytecode(handlerDir: string, exclude: string[], stage: string, python: RuntimePython): CompileResult {
    fs.rmSync(stage, { recursive: true, force: true });
    fs.mkdirSync(stage, { recursive: true });
    for (const f of walkTree(handlerDir, { exclude }).files) {
        const to = path.join(stage, f.rel);
        fs.mkdirSync(path.dirname(to), { recursive: true });
        fs.copyFileSync(f.abs, to); // follows symlinks, as the zip does
        if (f.executable) fs.chmodSync(to, 0o755);
    }
    return compileTree(stage, CODE_MOUNT, python);
}
