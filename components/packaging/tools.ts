/**
 * The build tools, created on first use under the cache so a fresh machine needs nothing but `python3`:
 * a virtualenv with a pinned pip (and uv, when asked for), built in a temporary directory and renamed into place,
 * so an interrupted setup never leaves a half-made tool that a later run trusts.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** Pinned so that the cache key (which includes it) means the same resolver and installer on every machine. */
export const PIP_VERSION = "26.3";
export const UV_VERSION = "0.13.9";

export interface Tools {
    /** The venv's python: run pip as `[python, "-m", "pip", ...]`. */
    python: string;
    pipVersion: string;
    /** Path of the uv binary when requested. */
    uv?: string;
}

/** The interpreter used to create the tool venv: ML_LAMBDA_PYTHON, else python3 on PATH. */
export function hostPython(): string {
    return process.env.ML_LAMBDA_PYTHON || "python3";
}

export function toolsDir(cacheDir: string, withUv: boolean): string {
    return path.join(cacheDir, "tools", `pip-${PIP_VERSION}${withUv ? `-uv-${UV_VERSION}` : ""}`);
}

export function ensureTools(cacheDir: string, opts: { uv?: boolean; log?: (line: string) => void } = {}): Tools {
    const withUv = opts.uv === true;
    const dir = toolsDir(cacheDir, withUv);
    const marker = path.join(dir, ".ml-lambda-ready");
    const result = (): Tools => ({
        python: path.join(dir, "bin", "python"),
        pipVersion: PIP_VERSION,
        uv: withUv ? path.join(dir, "bin", "uv") : undefined,
    });
    if (fs.existsSync(marker)) return result();

    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    log(`ml-lambda: creating build tools (pip ${PIP_VERSION}${withUv ? `, uv ${UV_VERSION}` : ""}) in ${dir}`);
    try {
        run(hostPython(), ["-m", "venv", tmp], "create a virtualenv (on Debian/Ubuntu: apt-get install python3-venv)");
        const pkgs = [`pip==${PIP_VERSION}`, ...(withUv ? [`uv==${UV_VERSION}`] : [])];
        run(path.join(tmp, "bin", "python"), ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q", ...pkgs], "install the pinned build tools from PyPI");
        fs.writeFileSync(path.join(tmp, ".ml-lambda-ready"), `${pkgs.join("\n")}\n`);
        try {
            fs.renameSync(tmp, dir);
        } catch (e) {
            // Another process finished first: use its copy.
            if (!fs.existsSync(marker)) throw e;
        }
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
    return result();
}

function run(cmd: string, args: string[], what: string): void {
    const r = spawnSync(cmd, args, { stdio: ["ignore", 2, 2] });
    if (r.error || r.status !== 0) {
        throw new Error(
            `ml-lambda: could not ${what}: \`${cmd} ${args.join(" ")}\` ` +
                (r.error ? `failed: ${r.error.message}` : `exited with ${r.status}`) +
                (cmd === hostPython() ? ". Set ML_LAMBDA_PYTHON to a Python >= 3.9 interpreter." : ""),
        );
    }
}
