/**
 * The installers a layer can be built with, as strategies: pip (the baseline) and uv (pinned, 4-7x faster cold on the
 * same inputs, same distributions). layer.ts knows only the Installer interface; everything that differs between
 * the two lives here: the pinned tool, the command line, the target platform in the tool's own words, how its
 * errors are read back, and how a "no wheel for the target" is recognised.
 *
 * Both install binary wheels for the target Python version, implementation, ABI and manylinux tags (not the build
 * machine's) into `<layer>/python`, which Lambda puts on sys.path from /opt/python.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { MlLambdaError } from "../errors";
import { Architecture, RUNTIMES, Runtime } from "../limits";
import { hostPython } from "../python";
import { ensureVenv } from "../venv";
import { requirementName } from "./requirements";

export type InstallerName = "pip" | "uv";

export interface Installer {
    name: InstallerName;
    /** The installer and its pinned version, e.g. "pip 26.3": reported in LayerBuild.installer. */
    label: string;
    /** The installer itself, pinned ("pip==26.3"): part of the layer cache key. */
    pin: string;
    /** Pinned distributions of the tool virtualenv this installer runs from (toolsVenv). */
    tools: string[];
    /** The target platform as passed to the installer (recorded in LayerBuild.platforms). */
    platforms(runtime: Runtime, arch: Architecture): string[];
    /** One install of `requirementsFile` into `target`; never throws for a missing wheel (see InstallerRun.missing). */
    install(run: InstallRun): InstallerRun;
}

export interface InstallRun {
    target: string;
    requirementsFile: string;
    runtime: Runtime;
    architecture: Architecture;
    /** The tool virtualenv's bin directory (toolsVenv). */
    toolsBin: string;
    cacheDir: string;
    /** A directory for the installer's own files (pip's --log). */
    scratch: string;
    quiet: boolean;
}

export interface InstallerRun {
    ok: boolean;
    status: number | null;
    /** The installer's own error lines, verbatim. */
    errors: string[];
    /** Requirements the installer found no wheel for (empty when ok). */
    missing: ParsedMissing[];
}

export interface ParsedMissing {
    /** Normalised name of the package that has no wheel. */
    name: string;
    /** The requirement as the installer printed it, e.g. "hdbscan==0.8.33". */
    requirement: string;
    /** Normalised name of the package that required it, when it is a dependency. */
    parent?: string;
    /** pip's "from versions:" list: "none", or the versions that do have a wheel for the target; undefined from uv. */
    versions?: string;
}

/** Pinned so that the cache key (which includes them) means the same resolver and installer on every machine. */
export const PIP_VERSION = "26.3";
export const UV_VERSION = "0.13.9";

// ---------------------------------------------------------------------------------------------------------
// The target platform
// ---------------------------------------------------------------------------------------------------------

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

/** uv's --python-platform: the newest glibc the runtime has; uv accepts every older manylinux tag with it. */
export function uvPlatform(runtime: Runtime, arch: Architecture): string {
    const newest = /^manylinux_2_(\d+)_/.exec(platformTags(runtime, arch)[0])!;
    return `${pipArch(arch)}-manylinux_2_${newest[1]}`;
}

// ---------------------------------------------------------------------------------------------------------
// pip
// ---------------------------------------------------------------------------------------------------------

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

/** pip's ERROR lines from its --log file (each log line is "<timestamp> <message>"), verbatim, without duplicates. */
export function pipErrorLines(logText: string): string[] {
    const out: string[] = [];
    for (const line of logText.split(/\r?\n/)) {
        const m = /^\d{4}-\d\d-\d\dT[\d:,.]+\s+(ERROR: .*)$/.exec(line);
        if (m && !out.includes(m[1])) out.push(m[1]);
    }
    return out;
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
        const name = requirementName(m[1]);
        if (!name || out.some((o) => o.name === name)) continue;
        const parent = m[2] && !m[2].startsWith("-r ") ? requirementName(m[2]) : undefined;
        out.push({ name, requirement: m[1], parent, versions: m[3].trim() || "none" });
    }
    return out;
}

/**
 * pip's own output streams live to this process's stderr (a synchronous call cannot hand lines to a callback while
 * pip runs); pip also writes a full log (`--log`), from which its ERROR lines are read back verbatim.
 */
export const PIP: Installer = {
    name: "pip",
    label: `pip ${PIP_VERSION}`,
    pin: `pip==${PIP_VERSION}`,
    tools: [`pip==${PIP_VERSION}`],
    platforms: platformTags,
    install(o) {
        const logFile = path.join(o.scratch, "pip.log");
        fs.rmSync(logFile, { force: true });
        const python = path.join(o.toolsBin, "python");
        const echo = o.quiet ? "ignore" : 2;
        const r = spawnSync(python, ["-m", "pip", ...pipInstallArgs({ ...o, logFile })], {
            stdio: ["ignore", echo, echo],
            env: {
                ...process.env,
                PIP_CACHE_DIR: path.join(path.resolve(o.cacheDir), "pip"),
                PIP_DISABLE_PIP_VERSION_CHECK: "1",
                PYTHONDONTWRITEBYTECODE: "1",
            },
        });
        if (r.error) throw new Error(`ml-lambda: could not run pip (${python}): ${r.error.message}`);
        const errors = pipErrorLines(fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "");
        return { ok: r.status === 0, status: r.status, errors, missing: r.status === 0 ? [] : parseMissing(errors) };
    },
};

// ---------------------------------------------------------------------------------------------------------
// uv
// ---------------------------------------------------------------------------------------------------------

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
        const name = requirementName(m[1]);
        if (!name || out.some((o) => o.name === name)) continue;
        const esc = m[1].replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        const req = new RegExp(`Because (${esc}\\S*) has no usable wheels`, "i").exec(text);
        const parent = new RegExp(`([A-Za-z0-9][A-Za-z0-9._-]*)[^\\s]* depends on ${esc}\\b`, "i").exec(text);
        out.push({ name, requirement: req ? req[1] : m[1], parent: parent ? requirementName(parent[1]) : undefined, versions: undefined });
    }
    return out;
}

/**
 * uv has no --log, and its output is short (it is fast): captured, then echoed to stderr unless quiet, so its error
 * lines can be read back verbatim.
 */
export const UV: Installer = {
    name: "uv",
    label: `uv ${UV_VERSION}`,
    pin: `uv==${UV_VERSION}`,
    tools: [`pip==${PIP_VERSION}`, `uv==${UV_VERSION}`],
    platforms: (runtime, arch) => [uvPlatform(runtime, arch)],
    install(o) {
        const uv = path.join(o.toolsBin, "uv");
        // uv resolves markers for --python-version without running it, but wants an interpreter to exist.
        const uvPython = !process.env.ML_LAMBDA_PYTHON && process.env.UV_PYTHON ? process.env.UV_PYTHON : hostPython();
        const r = spawnSync(uv, uvInstallArgs(o), {
            stdio: ["ignore", "pipe", "pipe"],
            encoding: "utf8",
            maxBuffer: 256 * 1024 * 1024,
            env: { ...process.env, UV_CACHE_DIR: path.join(path.resolve(o.cacheDir), "uv"), UV_PYTHON: uvPython, PYTHONDONTWRITEBYTECODE: "1" },
        });
        if (r.error) throw new Error(`ml-lambda: could not run uv (${uv}): ${r.error.message}`);
        const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
        if (!o.quiet && out) process.stderr.write(out.endsWith("\n") ? out : `${out}\n`);
        fs.rmSync(path.join(o.target, ".lock"), { force: true }); // uv's lock on the --target directory, not part of the layer
        return { ok: r.status === 0, status: r.status, errors: uvErrorLines(out), missing: r.status === 0 ? [] : parseUvMissing(out) };
    },
};

export const INSTALLERS: Record<InstallerName, Installer> = { pip: PIP, uv: UV };

/** The installer of that name; anything else is a user mistake under `setting` (an env var or a CLI flag). */
export function installerNamed(v: unknown, setting: string): Installer {
    if (v === "pip" || v === "uv") return INSTALLERS[v];
    throw new MlLambdaError(setting, v, 'one of "pip", "uv"', `use ${setting.startsWith("--") ? `${setting} pip (the default) or ${setting} uv` : "pip (the default) or uv"}`);
}

/** ML_LAMBDA_INSTALLER, else pip. */
export function defaultInstaller(): Installer {
    const v = process.env.ML_LAMBDA_INSTALLER;
    return v === undefined || v === "" ? PIP : installerNamed(v, "ML_LAMBDA_INSTALLER");
}

/**
 * The installer's tool virtualenv under the cache (`tools/pip-26.3`, `tools/pip-26.3-uv-0.13.9`): the pinned pip
 * and uv, so that the cache key means the same resolver everywhere. Returns its bin directory.
 */
export function toolsVenv(cacheDir: string, installer: Installer, log?: (line: string) => void): string {
    const dir = path.join(path.resolve(cacheDir), "tools", installer.tools.map((t) => t.replace("==", "-")).join("-"));
    return ensureVenv({ dir, installs: [installer.tools], what: `build tools (${installer.tools.join(", ")})`, log });
}
