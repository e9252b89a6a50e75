/**
 * Building a dependency layer the way Lambda will see it: pip installs binary wheels for the target Python version,
 * implementation, ABI and manylinux tags (not the build machine's), into `<layer>/python`, which Lambda puts on
 * sys.path from /opt/python. Then safe slimming, measurement, and a deterministic zip, all cached by a hash of
 * every input.
 *
 * Synchronous on purpose: the component must know zip-or-image before it registers resources. pip's own output
 * streams live to this process's stderr (a synchronous call cannot hand lines to a callback while pip runs); pip
 * also writes a full log (`--log`), from which its ERROR lines are read back verbatim into `pipErrors`.
 *
 * A requirement with no wheel for the target never throws: it is reported in `missingWheels` (so "auto" can choose
 * the image path), left out, and pip is re-run on the rest so the measurement still shows what the others weigh.
 * Anything else pip fails on (conflicting pins, a network error) throws with pip's error lines.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { MlLambdaError } from "../errors";
import { ARCHITECTURES, Architecture, RUNTIMES, Runtime, SUPPORTED_RUNTIMES, UNZIPPED_LIMIT_BYTES } from "../limits";
import { zipDirectory } from "./archive";
import type { MissingWheel } from "./decide";
import { DependencyWeight, dependencyWeights } from "./deps";
import { Measurement, measureDir } from "./measure";
import { RequirementLine, readRequirements } from "./requirements";
import { SLIM_RULES, SlimResult, slimTree } from "./slim";
import { PIP_VERSION, UV_VERSION, ensureTools } from "./tools";

/** Bump when the build's output for the same inputs changes (layout, zip format, measurement). Part of the key. */
export const BUILDER_VERSION = 4;
/** Re-runs of pip after leaving out a requirement that has no wheel, at most. */
const MAX_ROUNDS = 12;

export interface LayerBuildOptions {
    /** Path of a pip requirements file. */
    requirements: string;
    runtime: Runtime;
    architecture: Architecture;
    /** Root of the build cache; see defaultCacheDir(). */
    cacheDir: string;
    /** Apply the safe slimming rules of slim.ts. @default true */
    slim?: boolean;
    /** Our own progress lines (pip's output goes straight to stderr). @default write to stderr */
    log?: (line: string) => void;
    /** Do not echo pip's output (its log is still read for errors). @default false */
    quiet?: boolean;
    /**
     * The installer. pip is the baseline; uv (pinned, from PyPI) resolves the same wheels 4-7x faster cold and
     * reuses its own cache, see the measurements in the packaging notes. @default env ML_LAMBDA_INSTALLER, else "pip"
     */
    installer?: Installer;
}

export type Installer = "pip" | "uv";

export function defaultInstaller(): Installer {
    const v = process.env.ML_LAMBDA_INSTALLER;
    if (v === undefined || v === "" || v === "pip") return "pip";
    if (v === "uv") return "uv";
    throw new MlLambdaError("ML_LAMBDA_INSTALLER", v, 'one of "pip", "uv"', "unset it to use pip");
}

export interface LayerBuild {
    /** sha256 hex of every input: requirements (with included and constraint files), Python version, architecture, tags, slim rules, tool versions, index settings. */
    key: string;
    /** Layer root that contains python/. */
    dir: string;
    /**
     * Deterministic zip of dir. Empty string when no zip was made: the layer alone exceeds Lambda's unzipped limit
     * (so it can only go to the image path, and zipping gigabytes would be wasted), or a requirement has no wheel
     * (the layer is incomplete and must not be deployed). zipBytes is 0 and zipSha256 "" then.
     */
    zipPath: string;
    zipBytes: number;
    /** base64 sha256 of the zip file: Lambda's CodeSha256 / Pulumi's sourceCodeHash format. */
    zipSha256: string;
    measurement: Measurement;
    /** Requirements with no binary wheel for the target; each was left out of the measured layer. */
    missingWheels: MissingWheel[];
    /** The installer's own error lines, verbatim (pip's "ERROR: ..." lines; uv's error/cause/hint lines). */
    pipErrors: string[];
    cacheHit: boolean;
    /** What slimming removed (undefined when slim is false). */
    slimmed?: SlimResult;
    /** manylinux platform tags passed to pip. */
    platforms: string[];
    /** The installer and its version, e.g. "pip 26.3" or "uv 0.13.9". */
    installer: string;
    pipVersion: string;
    /** Wall time of the build that produced the entry (not of a cache hit). */
    buildMs: number;
    /** Each distribution with what it pulls in (dependencyWeights), heaviest first: pass to decide() as `weights`. */
    weights: DependencyWeight[];
}

/** pip's platform suffix for a Lambda architecture. */
export function pipArch(arch: Architecture): string {
    return arch === "arm64" ? "aarch64" : "x86_64";
}

/**
 * Platform tags for pip, newest first: every manylinux_2_N from the runtime's newest glibc down to its oldest listed
 * tag (limits.ts lists the landmarks; wheels in the wild use the ones between too, e.g. nvidia-nccl's manylinux_2_18
 * and nvidia-cudnn's manylinux_2_27), plus the legacy aliases limits.ts lists (pip expands manylinux2014 to 2010/1).
 */
export function platformTags(runtime: Runtime, arch: Architecture): string[] {
    const facts = RUNTIMES[runtime];
    const glibc = (tag: string): number | undefined => {
        const m = /^manylinux_2_(\d+)$/.exec(tag);
        if (m) return Number(m[1]);
        return ({ manylinux2014: 17, manylinux2010: 12, manylinux1: 5 } as Record<string, number>)[tag];
    };
    const minors = facts.manylinux.map(glibc).filter((n): n is number => n !== undefined);
    const hi = Math.max(...minors);
    const lo = Math.min(...minors);
    const tags: string[] = [];
    for (let n = hi; n >= lo; n--) tags.push(`manylinux_2_${n}`);
    for (const t of facts.manylinux) if (!t.startsWith("manylinux_2_")) tags.push(t);
    const suffix = pipArch(arch);
    return tags.map((t) => `${t}_${suffix}`);
}

/** The pip command line (after `python -m pip`), as an array so tests can assert it exactly. */
export function pipInstallArgs(o: { target: string; requirementsFile: string; runtime: Runtime; architecture: Architecture; logFile: string }): string[] {
    const py = RUNTIMES[o.runtime].python;
    const args = [
        "install",
        "--target", o.target,
        "--only-binary=:all:",
        "--implementation", "cp",
        "--python-version", py,
        "--abi", `cp${py.replace(".", "")}`,
    ];
    for (const p of platformTags(o.runtime, o.architecture)) args.push("--platform", p);
    args.push(
        "--no-compile", // bytecode for the build machine's Python is useless on Lambda's
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar", "off",
        "--log", o.logFile,
        "-r", o.requirementsFile,
    );
    return args;
}

/** Index settings from the environment change what pip resolves, so they are part of the key. */
const INDEX_ENV = [
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_CONSTRAINT", "PIP_PRE",
    "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_FIND_LINKS", "UV_CONSTRAINT", "UV_PRERELEASE",
];

/** uv's --python-platform: the newest glibc the runtime has; uv accepts every older manylinux tag with it. */
export function uvPlatform(runtime: Runtime, arch: Architecture): string {
    const newest = /^manylinux_2_(\d+)_/.exec(platformTags(runtime, arch)[0])!;
    return `${pipArch(arch)}-manylinux_2_${newest[1]}`;
}

/** The uv command line (after the uv binary), as an array so tests can assert it exactly. */
export function uvInstallArgs(o: { target: string; requirementsFile: string; runtime: Runtime; architecture: Architecture }): string[] {
    return [
        "pip", "install",
        "--target", o.target,
        "--python-platform", uvPlatform(o.runtime, o.architecture),
        "--python-version", RUNTIMES[o.runtime].python,
        "--only-binary", ":all:",
        "--no-progress",
        "-r", o.requirementsFile,
    ];
}

export function layerKey(o: { requirementsText: string; constraints: Record<string, string>; runtime: Runtime; architecture: Architecture; slim: boolean; installer?: Installer }): string {
    const input = {
        builder: BUILDER_VERSION,
        requirements: o.requirementsText,
        constraints: Object.entries(o.constraints).sort(([a], [b]) => (a < b ? -1 : 1)),
        python: RUNTIMES[o.runtime].python,
        implementation: "cp",
        architecture: o.architecture,
        platforms: platformTags(o.runtime, o.architecture),
        slim: o.slim ? SLIM_RULES.map((r) => r.id) : [],
        tool: (o.installer ?? "pip") === "uv" ? `uv==${UV_VERSION}` : `pip==${PIP_VERSION}`,
        env: INDEX_ENV.map((k) => [k, process.env[k] ?? null]),
    };
    return crypto.createHash("sha256").update(JSON.stringify(input)).digest("hex");
}

/** build.json: the LayerBuild minus what depends on where the entry lives (zipPath is relative to the entry). */
type CacheManifest = Omit<LayerBuild, "dir" | "cacheHit"> & { format: 1 };

interface Resolved {
    flat: ReturnType<typeof readRequirements>;
    slim: boolean;
    key: string;
    layersDir: string;
    entry: string;
    label: string;
    installer: Installer;
}

function resolve(opts: LayerBuildOptions): Resolved {
    if (!(SUPPORTED_RUNTIMES as readonly string[]).includes(opts.runtime)) {
        throw new MlLambdaError("runtime", opts.runtime, `one of ${SUPPORTED_RUNTIMES.join(", ")}`, `use "python3.12"`);
    }
    if (!(ARCHITECTURES as readonly string[]).includes(opts.architecture)) {
        throw new MlLambdaError("architecture", opts.architecture, `one of ${ARCHITECTURES.join(", ")}`, `use "x86_64" or "arm64"`);
    }
    if (!opts.cacheDir) throw new MlLambdaError("cacheDir", opts.cacheDir, "a directory for the build cache", "pass defaultCacheDir()");
    const flat = readRequirements(opts.requirements);
    const slim = opts.slim ?? true;
    const requirementsText = flat.lines.map((l) => l.text).join("\n") + "\n";
    const installer = opts.installer ?? defaultInstaller();
    const key = layerKey({ requirementsText, constraints: flat.constraints, runtime: opts.runtime, architecture: opts.architecture, slim, installer });
    const layersDir = path.join(path.resolve(opts.cacheDir), "layers");
    return { flat, slim, key, layersDir, installer, entry: path.join(layersDir, key), label: `${path.basename(opts.requirements)} for ${opts.runtime} ${opts.architecture}` };
}

/** The cached build for these options, or undefined: never runs pip (for plans and tests that must stay cheap). */
export function lookupLayer(opts: LayerBuildOptions): LayerBuild | undefined {
    const r = resolve(opts);
    return readEntry(r.entry, r.key);
}

export function buildLayer(opts: LayerBuildOptions): LayerBuild {
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const { flat, slim, key, layersDir, entry, label, installer } = resolve(opts);
    const installerName = installer === "uv" ? `uv ${UV_VERSION}` : `pip ${PIP_VERSION}`;

    const cached = readEntry(entry, key);
    if (cached) {
        log(`ml-lambda: layer ${label}: cache hit ${key.slice(0, 12)} (no pip run)`);
        return cached;
    }

    fs.mkdirSync(layersDir, { recursive: true });
    removeStaleTemps(layersDir);
    const tmp = path.join(layersDir, `.tmp-${key.slice(0, 16)}-${process.pid}-${Date.now()}`);
    const started = Date.now();
    try {
        const site = path.join(tmp, "layer", "python");
        fs.mkdirSync(site, { recursive: true });
        const tags = platformTags(opts.runtime, opts.architecture);
        log(`ml-lambda: building layer ${label} (key ${key.slice(0, 12)}) with ${installerName} for ${tags[0]} .. ${tags[tags.length - 1]}`);
        const tools = ensureTools(opts.cacheDir, { log, uv: installer === "uv" });
        const { missingWheels, pipErrors } = installWithRetries({ ...opts, tmp, site, lines: flat.lines, python: tools.python, uv: tools.uv, installer, log });

        normalizeScripts(site);
        let slimmed: SlimResult | undefined;
        if (slim) {
            slimmed = slimTree(site);
            log(`ml-lambda: slimming removed ${formatMiB(slimmed.removedBytes)} in ${slimmed.removedFiles} files (` +
                slimmed.byRule.map((r) => `${r.rule} ${formatMiB(r.bytes)}`).join(", ") + ")" +
                (slimmed.kept.length ? `; kept test dirs that other code imports: ${slimmed.kept.join(", ")}` : ""));
        }
        const measurement = measureDir(path.join(tmp, "layer"));
        let zipBytes = 0;
        let zipSha256 = "";
        let zipName = "";
        if (missingWheels.length > 0) {
            log(`ml-lambda: no layer zip: no wheel for the target for ${missingWheels.map((m) => m.name).join(", ")}`);
        } else if (measurement.unzippedBytes > UNZIPPED_LIMIT_BYTES) {
            log(`ml-lambda: no layer zip: ${formatMiB(measurement.unzippedBytes)} unzipped is over Lambda's ${formatMiB(UNZIPPED_LIMIT_BYTES)} on its own`);
        } else {
            const z = zipDirectory(path.join(tmp, "layer"), path.join(tmp, "layer.zip"));
            zipBytes = z.bytes;
            zipSha256 = z.sha256;
            zipName = "layer.zip";
        }
        const manifest: CacheManifest = {
            format: 1,
            key,
            zipPath: zipName,
            zipBytes,
            zipSha256,
            measurement,
            missingWheels,
            pipErrors,
            slimmed,
            platforms: installer === "uv" ? [uvPlatform(opts.runtime, opts.architecture)] : platformTags(opts.runtime, opts.architecture),
            installer: installerName,
            pipVersion: PIP_VERSION,
            buildMs: Date.now() - started,
            weights: dependencyWeights(measurement, flat.lines.map((l) => l.name).filter((n): n is string => n !== undefined)),
        };
        // Written last, then the whole directory renamed into place: an interrupted build leaves only a .tmp-*.
        fs.writeFileSync(path.join(tmp, "build.json"), JSON.stringify(manifest, null, 1));
        const raced = readEntry(entry, key); // a concurrent build of the same key finished first: keep its entry
        if (raced) {
            log(`ml-lambda: layer ${label}: another build of ${key.slice(0, 12)} finished first; using it`);
            return { ...raced, cacheHit: false };
        }
        fs.rmSync(entry, { recursive: true, force: true }); // a damaged entry without a valid build.json
        try {
            fs.renameSync(tmp, entry);
        } catch (e) {
            const other = readEntry(entry, key); // a concurrent build of the same key won the race
            if (!other) throw e;
        }
        const done = readEntry(entry, key);
        if (!done) throw new Error(`ml-lambda: the layer cache entry ${entry} could not be read back`);
        log(`ml-lambda: layer ${label}: ${formatMiB(measurement.unzippedBytes)} unzipped in ${measurement.files} files` +
            (zipBytes ? `, zip ${formatMiB(zipBytes)}` : "") + `, built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return { ...done, cacheHit: false };
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

function readEntry(entry: string, key: string): LayerBuild | undefined {
    const file = path.join(entry, "build.json");
    let m: CacheManifest;
    try {
        m = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
        return undefined;
    }
    if (m.format !== 1 || m.key !== key) return undefined;
    const dir = path.join(entry, "layer");
    const zipPath = m.zipPath ? path.join(entry, m.zipPath) : "";
    if (!fs.existsSync(path.join(dir, "python"))) return undefined;
    if (zipPath && (!fs.existsSync(zipPath) || fs.statSync(zipPath).size !== m.zipBytes)) return undefined;
    const { format: _format, ...build } = m;
    return { ...build, key, dir, zipPath, cacheHit: true };
}

/** Removes temporary build directories whose process is gone (an interrupted build). */
function removeStaleTemps(layersDir: string): void {
    for (const name of fs.readdirSync(layersDir)) {
        const m = /^\.tmp-[0-9a-f]+-(\d+)-\d+$/.exec(name);
        if (!m) continue;
        const pid = Number(m[1]);
        let alive = pid === process.pid;
        if (!alive) {
            try {
                process.kill(pid, 0);
                alive = true;
            } catch (e) {
                alive = (e as NodeJS.ErrnoException).code === "EPERM";
            }
        }
        if (!alive) fs.rmSync(path.join(layersDir, name), { recursive: true, force: true });
    }
}

interface InstallContext extends LayerBuildOptions {
    tmp: string;
    site: string;
    lines: RequirementLine[];
    python: string;
    uv?: string;
    installer: Installer;
    log: (line: string) => void;
}

function installWithRetries(ctx: InstallContext): { missingWheels: MissingWheel[]; pipErrors: string[] } {
    let active = [...ctx.lines];
    const missingWheels: MissingWheel[] = [];
    const pipErrors: string[] = [];
    const py = RUNTIMES[ctx.runtime].python;
    const target = `cp${py.replace(".", "")} ${ctx.architecture} (manylinux, glibc <= ${platformTags(ctx.runtime, ctx.architecture)[0].replace(/^manylinux_2_(\d+)_.*$/, "2.$1")})`;
    for (let round = 1; round <= MAX_ROUNDS; round++) {
        if (!active.some((l) => l.name !== undefined || !l.text.startsWith("-"))) break; // nothing left to install
        fs.rmSync(ctx.site, { recursive: true, force: true });
        fs.mkdirSync(ctx.site, { recursive: true });
        const reqFile = path.join(ctx.tmp, `requirements.round${round}.txt`);
        fs.writeFileSync(reqFile, active.map((l) => l.text).join("\n") + "\n");
        const run = ctx.installer === "uv" ? runUv(ctx, reqFile) : runPip(ctx, reqFile, path.join(ctx.tmp, `pip.round${round}.log`));
        pipErrors.push(...run.errors);
        if (run.ok) return { missingWheels, pipErrors };

        const found = run.missing;
        if (found.length === 0) {
            throw new MlLambdaError(
                "requirements",
                ctx.requirements,
                `${ctx.installer} could not install them for ${target}: ${run.errors.length ? run.errors.join(" | ") : `${ctx.installer} exited with ${run.status} (see its output above)`}`,
                `fix the requirements ${ctx.installer} names above (conflicting pins resolve with looser ones), or check the network / index settings`,
            );
        }
        let progressed = false;
        for (const f of found) {
            // Leave out the top-level requirement that led to it: the package itself, or the one that required it.
            const culprit = active.find((l) => l.name === f.name) ?? (f.parent ? active.find((l) => l.name === f.parent) : undefined);
            const via = f.parent && culprit?.name === f.parent ? `, required by ${f.parent}` : "";
            const list = f.versions === undefined || f.versions === "none" ? [] : f.versions.split(",").map((v) => v.trim());
            const versions = f.versions === undefined
                ? "(uv does not list the versions that have one)"
                : list.length === 0
                  ? "no version has one"
                  : `versions that have one: ${list.length > 5 ? `... ${list.slice(-5).join(", ")} (${list.length} in all)` : list.join(", ")}`;
            missingWheels.push({ name: f.name, detail: `${f.requirement}${via}: no binary wheel for ${target}; ${versions}` });
            ctx.log(`ml-lambda: no wheel for ${f.name}${via} on ${target}` + (culprit ? `; measuring the rest without "${culprit.text}"` : ""));
            if (culprit) {
                active = active.filter((l) => l !== culprit);
                progressed = true;
            }
        }
        if (!progressed) {
            // The missing package came in through a chain we cannot map to one line: stop, report what we know.
            fs.rmSync(ctx.site, { recursive: true, force: true });
            fs.mkdirSync(ctx.site, { recursive: true });
            return { missingWheels, pipErrors };
        }
    }
    return { missingWheels, pipErrors };
}

/**
 * Console-script wrappers (python/bin) start with a #! line naming the build machine's interpreter (our tool venv
 * under the cache), and each RECORD lists their sha256. Left alone, the same requirements would zip to different
 * bytes on every machine, or in another cache directory. The #! line becomes `#!/usr/bin/env python3` (the
 * scripts are not on Lambda's PATH anyway) and the RECORD entries of those scripts are updated to match.
 */
export function normalizeScripts(site: string): void {
    const bin = path.join(site, "bin");
    if (!fs.existsSync(bin)) return;
    const fixed = new Map<string, Buffer>();
    for (const name of fs.readdirSync(bin).sort()) {
        const file = path.join(bin, name);
        if (!fs.lstatSync(file).isFile()) continue;
        const data = fs.readFileSync(file);
        if (data.subarray(0, 2).toString() !== "#!") continue;
        let text = data.toString("latin1");
        // pip's trampoline for long interpreter paths: #!/bin/sh, then a line "'''exec' /path/python ..." and "' '''".
        text = text.replace(/^#!\/bin\/sh\n'''exec' .*\n' '''\n/, "#!/usr/bin/env python3\n");
        text = text.replace(/^#![^\n]*python[^\n]*\n/, "#!/usr/bin/env python3\n");
        const out = Buffer.from(text, "latin1");
        if (!out.equals(data)) fs.writeFileSync(file, out);
        fixed.set(name, out);
    }
    if (fixed.size === 0) return;
    for (const ent of fs.readdirSync(site)) {
        const record = path.join(site, ent, "RECORD");
        if (!ent.endsWith(".dist-info") || !fs.existsSync(record)) continue;
        const lines = fs.readFileSync(record, "utf8").split("\n");
        let changed = false;
        const next = lines.map((line) => {
            const m = /^((?:\.\.\/)+bin\/|bin\/)([^,]+),[^,]*,[^,]*$/.exec(line);
            const data = m ? fixed.get(m[2]) : undefined;
            if (!m || !data) return line;
            changed = true;
            const digest = crypto.createHash("sha256").update(data).digest("base64url");
            return `${m[1]}${m[2]},sha256=${digest},${data.length}`;
        });
        if (changed) fs.writeFileSync(record, next.join("\n"));
    }
}

interface InstallerRun {
    ok: boolean;
    status: number | null;
    errors: string[];
    missing: ParsedMissing[];
}

function runPip(ctx: InstallContext, reqFile: string, logFile: string): InstallerRun {
    const args = ["-m", "pip", ...pipInstallArgs({ target: ctx.site, requirementsFile: reqFile, runtime: ctx.runtime, architecture: ctx.architecture, logFile })];
    const echo = ctx.quiet ? "ignore" : 2;
    const r = spawnSync(ctx.python, args, {
        stdio: ["ignore", echo, echo],
        env: {
            ...process.env,
            PIP_CACHE_DIR: path.join(path.resolve(ctx.cacheDir), "pip"),
            PIP_DISABLE_PIP_VERSION_CHECK: "1",
            PYTHONDONTWRITEBYTECODE: "1",
        },
    });
    if (r.error) throw new Error(`ml-lambda: could not run pip (${ctx.python}): ${r.error.message}`);
    const errors = pipErrorLines(fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "");
    return { ok: r.status === 0, status: r.status, errors, missing: r.status === 0 ? [] : parseMissing(errors) };
}

/**
 * uv has no --log, and its output is short (it is fast): captured, then echoed to stderr unless quiet, so its error
 * lines can be read back verbatim.
 */
function runUv(ctx: InstallContext, reqFile: string): InstallerRun {
    const r = spawnSync(ctx.uv!, uvInstallArgs({ target: ctx.site, requirementsFile: reqFile, runtime: ctx.runtime, architecture: ctx.architecture }), {
        stdio: ["ignore", "pipe", "pipe"],
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
        env: { ...process.env, UV_CACHE_DIR: path.join(path.resolve(ctx.cacheDir), "uv"), UV_PYTHON: process.env.ML_LAMBDA_PYTHON || process.env.UV_PYTHON || "python3", PYTHONDONTWRITEBYTECODE: "1" },
    });
    if (r.error) throw new Error(`ml-lambda: could not run uv (${ctx.uv}): ${r.error.message}`);
    const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
    if (!ctx.quiet && out) process.stderr.write(out.endsWith("\n") ? out : `${out}\n`);
    fs.rmSync(path.join(ctx.site, ".lock"), { force: true }); // uv's lock on the --target directory, not part of the layer
    const errors = uvErrorLines(out);
    return { ok: r.status === 0, status: r.status, errors, missing: r.status === 0 ? [] : parseUvMissing(out) };
}

/** uv's error, cause and hint lines, verbatim (continuation lines of a cause folded in). */
export function uvErrorLines(text: string): string[] {
    const out: string[] = [];
    for (const line of text.split(/\r?\n/)) {
        if (/^(error|hint|warning):/.test(line) || /^\s+cause:/.test(line)) out.push(line.trim());
        else if (/^\s{4,}\S/.test(line) && out.length > 0 && /^cause:/.test(out[out.length - 1])) out[out.length - 1] += ` ${line.trim()}`;
    }
    return out;
}

/**
 * uv (0.13) says, under --only-binary :all:,
 *   "hint: Wheels are required for `docopt` because building from source is disabled for all packages"
 * for each package without a usable wheel, and explains the chain in its cause ("num2words>=0.5.14 depends on
 * docopt>=0.6.2"), from which the requiring package is read.
 */
export function parseUvMissing(text: string): ParsedMissing[] {
    const out: ParsedMissing[] = [];
    for (const m of text.matchAll(/Wheels are required for `([^`]+)`/g)) {
        const name = reqName(m[1]);
        if (!name || out.some((o) => o.name === name)) continue;
        const esc = m[1].replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        const req = new RegExp(`Because (${esc}\\S*) has no usable wheels`, "i").exec(text);
        const parent = new RegExp(`([A-Za-z0-9][A-Za-z0-9._-]*)[^\\s]* depends on ${esc}\\b`, "i").exec(text);
        out.push({ name, requirement: req ? req[1] : m[1], parent: parent ? reqName(parent[1]) : undefined, versions: undefined });
    }
    return out;
}

/** pip's ERROR lines from its --log file (each log line is "<timestamp> <message>"), verbatim, without duplicates. */
export function pipErrorLines(logText: string): string[] {
    const out: string[] = [];
    for (const line of logText.split(/\r?\n/)) {
        const m = /^\d{4}-\d\d-\d\dT[\d:,.]+\s+(ERROR: .*)$/.exec(line);
        if (m && !out.includes(m[1])) out.push(m[1]);
    }
    return out;
}

export interface ParsedMissing {
    /** Normalised name of the package that has no wheel. */
    name: string;
    /** The requirement as pip printed it, e.g. "hdbscan==0.8.33". */
    requirement: string;
    /** Normalised name of the package that required it, when it is a dependency. */
    parent?: string;
    /** pip's "from versions:" list: "none", or the versions that do have a wheel for the target; undefined from uv. */
    versions?: string;
}

/**
 * "ERROR: Could not find a version that satisfies the requirement docopt>=0.6.2 (from num2words) (from versions: none)"
 * is what pip (>= 20.3, checked on 26.3) prints when, under --only-binary=:all:, no distribution of a requirement has a
 * wheel for the requested platform, Python and ABI (an sdist-only package, or a pin older than the target Python).
 */
export function parseMissing(errors: string[]): ParsedMissing[] {
    const out: ParsedMissing[] = [];
    for (const e of errors) {
        const m = /^ERROR: Could not find a version that satisfies the requirement (.+?)(?: \(from (.+?)\))? \(from versions: (.*)\)$/.exec(e);
        if (!m) continue;
        const name = reqName(m[1]);
        if (!name || out.some((o) => o.name === name)) continue;
        const parent = m[2] && !m[2].startsWith("-r ") ? reqName(m[2]) : undefined;
        out.push({ name, requirement: m[1], parent, versions: m[3].trim() || "none" });
    }
    return out;
}

function reqName(s: string): string | undefined {
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(s.trim());
    return m ? m[1].toLowerCase().replace(/[-_.]+/g, "-") : undefined;
}

function formatMiB(n: number): string {
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
