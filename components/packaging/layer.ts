/**
 * Building a dependency layer the way Lambda will see it: the installer (installers.ts: pip, or uv) installs binary
 * wheels for the target into `<layer>/python`; then safe slimming, measurement, and a deterministic zip, all cached
 * by a hash of every input (layerCache.ts).
 *
 * Synchronous on purpose: the component must know zip-or-image before it registers resources. The installer's own
 * output streams to this process's stderr; its error lines are read back verbatim into `installerErrors`.
 *
 * A requirement with no wheel for the target never throws: it is reported in `missingWheels` (so "auto" can choose
 * the image path), left out, and the installer is re-run on the rest so the measurement still shows what the others
 * weigh. Anything else the installer fails on (conflicting pins, a network error) throws with its error lines.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { MlLambdaError } from "../errors";
import { Architecture, RUNTIMES, Runtime, UNZIPPED_LIMIT_BYTES } from "../limits";
import { validateArchitecture, validateRuntime } from "../validate";
import { zipDirectory } from "./archive";
import type { MissingWheel } from "./decide";
import { DependencyWeight, dependencyWeights } from "./deps";
import { defaultInstaller, Installer, InstallerName, installerNamed, platformTags, toolsVenv } from "./installers";
import { commitEntry, layerKey, readEntry, tempEntry } from "./layerCache";
import { Measurement, measureDir } from "./measure";
import { RequirementLine, readRequirements } from "./requirements";
import { SlimResult, slimTree } from "./slim";
import type { BytecodeInfo } from "./bytecode";
import { OmittedDistribution, omitDistributions } from "./omit";

/** Re-runs of the installer after leaving out a requirement that has no wheel, at most. */
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
    /** Our own progress lines (the installer's output goes straight to stderr). @default write to stderr */
    log?: (line: string) => void;
    /** Do not echo the installer's output (its errors are still read back). @default false */
    quiet?: boolean;
    /** The installer (installers.ts). @default env ML_LAMBDA_INSTALLER, else "pip" */
    installer?: InstallerName;
}

export interface LayerBuild {
    /** sha256 hex of every input: requirements (with included and constraint files, omit lines), Python version, architecture, tags, slim rules, installer version, index settings; for a bytecode variant, also the compiler's version (bytecode.ts). */
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
    installerErrors: string[];
    cacheHit: boolean;
    /** What slimming removed (undefined when slim is false). */
    slimmed?: SlimResult;
    /** The target platform as passed to the installer (pip: every manylinux tag; uv: one --python-platform). */
    platforms: string[];
    /** The installer and its version, e.g. "pip 26.3" or "uv 0.13.9". */
    installer: string;
    /** Wall time of the build that produced the entry (not of a cache hit). */
    buildMs: number;
    /** Each distribution with what it pulls in (dependencyWeights), heaviest first: pass to decide() as `weights`. */
    weights: DependencyWeight[];
    /** What the requirements file's `# ml-lambda:omit` lines removed (omit.ts); empty without such lines. */
    omitted?: OmittedDistribution[];
    /** Set on the bytecode variant of a layer (bytecode.ts: layerWithBytecode): how its .pyc files were compiled. */
    bytecode?: BytecodeInfo;
}

interface Resolved {
    flat: ReturnType<typeof readRequirements>;
    slim: boolean;
    key: string;
    layersDir: string;
    label: string;
    installer: Installer;
}

function resolve(opts: LayerBuildOptions): Resolved {
    // The gate's rules (validate.ts): buildLayer is also called directly (the CLI, tests), not only after normalizeArgs.
    validateRuntime(opts.runtime);
    validateArchitecture(opts.architecture);
    if (!opts.cacheDir) throw new MlLambdaError("cacheDir", opts.cacheDir, "a directory for the build cache", "pass defaultCacheDir()");
    const flat = readRequirements(opts.requirements);
    const slim = opts.slim ?? true;
    const requirementsText = flat.lines.map((l) => l.text).join("\n") + "\n";
    const installer = opts.installer === undefined ? defaultInstaller() : installerNamed(opts.installer, "installer");
    const key = layerKey({ requirementsText, constraints: flat.constraints, runtime: opts.runtime, architecture: opts.architecture, slim, installer, omit: flat.omit, direct: flat.direct });
    const layersDir = path.join(path.resolve(opts.cacheDir), "layers");
    return { flat, slim, key, layersDir, installer, label: `${path.basename(opts.requirements)} for ${opts.runtime} ${opts.architecture}` };
}

/** The cached build for these options, or undefined: never runs the installer (for plans and tests that must stay cheap). */
export function lookupLayer(opts: LayerBuildOptions): LayerBuild | undefined {
    const r = resolve(opts);
    return readEntry(r.layersDir, r.key);
}

export function buildLayer(opts: LayerBuildOptions): LayerBuild {
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const { flat, slim, key, layersDir, label, installer } = resolve(opts);

    const cached = readEntry(layersDir, key);
    if (cached) {
        log(`ml-lambda: layer ${label}: cache hit ${key.slice(0, 12)} (no ${installer.name} run)`);
        return cached;
    }

    const tmp = tempEntry(layersDir, key);
    const started = Date.now();
    try {
        const site = path.join(tmp, "layer", "python");
        fs.mkdirSync(site, { recursive: true });
        const tags = platformTags(opts.runtime, opts.architecture);
        log(`ml-lambda: building layer ${label} (key ${key.slice(0, 12)}) with ${installer.label} for ${tags[0]} .. ${tags[tags.length - 1]}`);
        const toolsBin = toolsVenv(opts.cacheDir, installer, log);
        const { missingWheels, installerErrors } = installWithRetries({ ...opts, tmp, site, lines: flat.lines, toolsBin, installer, log });

        normalizeScripts(site);
        let slimmed: SlimResult | undefined;
        if (slim) {
            slimmed = slimTree(site);
            log(`ml-lambda: slimming removed ${formatMiB(slimmed.removedBytes)} in ${slimmed.removedFiles} files (` +
                slimmed.byRule.map((r) => `${r.rule} ${formatMiB(r.bytes)}`).join(", ") + ")" +
                (slimmed.kept.length ? `; kept test dirs that other code imports: ${slimmed.kept.join(", ")}` : ""));
        }
        const wanted = flat.direct ?? flat.lines.map((l) => l.name).filter((n): n is string => n !== undefined);
        const omitted = omitDistributions(site, flat.omit, wanted);
        if (omitted.length) {
            log(`ml-lambda: left out as the requirements' omit lines ask: ${omitted.map((o) => `${o.name} ${formatMiB(o.bytes)}${o.reason === "omit line" ? "" : ` (for ${o.reason})`}`).join(", ")}; ` +
                `${formatMiB(omitted.reduce((a, o) => a + o.bytes, 0))} in all`);
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
        const { entry, raced } = commitEntry(layersDir, tmp, {
            key,
            zipPath: zipName,
            zipBytes,
            zipSha256,
            measurement,
            missingWheels,
            installerErrors,
            slimmed,
            platforms: installer.platforms(opts.runtime, opts.architecture),
            installer: installer.label,
            buildMs: Date.now() - started,
            weights: dependencyWeights(measurement, wanted),
            omitted,
        });
        if (raced) log(`ml-lambda: layer ${label}: another build of ${key.slice(0, 12)} finished first; using it`);
        else {
            log(`ml-lambda: layer ${label}: ${formatMiB(measurement.unzippedBytes)} unzipped in ${measurement.files} files` +
                (zipBytes ? `, zip ${formatMiB(zipBytes)}` : "") + `, built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        }
        return { ...entry, cacheHit: false };
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

interface InstallContext extends Omit<LayerBuildOptions, "installer"> {
    tmp: string;
    site: string;
    lines: RequirementLine[];
    toolsBin: string;
    installer: Installer;
    log: (line: string) => void;
}

function installWithRetries(ctx: InstallContext): { missingWheels: MissingWheel[]; installerErrors: string[] } {
    let active = [...ctx.lines];
    const missingWheels: MissingWheel[] = [];
    const installerErrors: string[] = [];
    const py = RUNTIMES[ctx.runtime].python;
    const target = `cp${py.replace(".", "")} ${ctx.architecture} (manylinux, glibc <= ${platformTags(ctx.runtime, ctx.architecture)[0].replace(/^manylinux_2_(\d+)_.*$/, "2.$1")})`;
    for (let round = 1; round <= MAX_ROUNDS; round++) {
        if (!active.some((l) => l.name !== undefined || !l.text.startsWith("-"))) break; // nothing left to install
        fs.rmSync(ctx.site, { recursive: true, force: true });
        fs.mkdirSync(ctx.site, { recursive: true });
        const reqFile = path.join(ctx.tmp, `requirements.round${round}.txt`);
        fs.writeFileSync(reqFile, active.map((l) => l.text).join("\n") + "\n");
        const run = ctx.installer.install({
            target: ctx.site, requirementsFile: reqFile, runtime: ctx.runtime, architecture: ctx.architecture,
            toolsBin: ctx.toolsBin, cacheDir: ctx.cacheDir, scratch: ctx.tmp, quiet: ctx.quiet ?? false,
        });
        installerErrors.push(...run.errors);
        if (run.ok) return { missingWheels, installerErrors };

        const found = run.missing;
        if (found.length === 0) {
            throw new MlLambdaError(
                "requirements",
                ctx.requirements,
                `${ctx.installer.name} could not install them for ${target}: ${run.errors.length ? run.errors.join(" | ") : `${ctx.installer.name} exited with ${run.status} (see its output above)`}`,
                `fix the requirements ${ctx.installer.name} names above (conflicting pins resolve with looser ones), or check the network / index settings`,
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
            return { missingWheels, installerErrors };
        }
    }
    return { missingWheels, installerErrors };
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

function formatMiB(n: number): string {
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
