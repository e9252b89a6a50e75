/**
 * The one virtualenv manager of the build: the installers' tool venv (pinned pip, uv) and the ONNX export venv
 * (torch & co.) are both created here, under the build cache, on first use, so a fresh machine needs nothing but
 * `python3`.
 *
 * One scheme for both: a venv is built in its final place and marked ready last, so an interrupted setup never
 * leaves a half-made venv that a later run trusts (a directory without the mark is removed and built again). Not
 * in a temporary directory renamed into place: pip writes the venv's path into every console script's #! line
 * (moto_server, uv's wrappers), and those would point at the vanished temporary name. It is built under a lock (a directory `<venv>.lock` holding the owner's pid, created atomically), so a second process
 * (two previews at once) waits for the first instead of building the same gigabytes again. A lock whose owner is
 * gone is taken over.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { hostPython } from "./python";

const READY = ".ml-lambda-ready";

export interface VenvSpec {
    /** Where the venv lives (its parent is created). */
    dir: string;
    /** `pip install` arguments run in the new venv, one install each (e.g. [["pip==26.3"]], [["-r", file]]). */
    installs: string[][];
    /** What it is, for progress and errors ("build tools (pip 26.3)"). */
    what: string;
    /** The interpreter the venv is made from. @default hostPython() */
    python?: string;
    /** A remedy named in errors beside the cause ("set ML_LAMBDA_EXPORT_PYTHON to ..."). */
    fix?: string;
    log?: (line: string) => void;
}

/** Whether the venv at `dir` exists and was completed (a later run can use it without creating anything). */
export function venvReady(dir: string): boolean {
    return fs.existsSync(path.join(dir, READY));
}

/** The venv's bin directory (python, pip, and console scripts such as uv), creating the venv if needed. */
export function ensureVenv(spec: VenvSpec): string {
    const bin = path.join(spec.dir, "bin");
    if (venvReady(spec.dir)) return bin;
    const log = spec.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    fs.mkdirSync(path.dirname(spec.dir), { recursive: true });
    const release = lock(`${spec.dir}.lock`, () => log(`ml-lambda: waiting for another process creating ${spec.what} in ${spec.dir}`));
    try {
        if (venvReady(spec.dir)) return bin; // the process we waited for made it
        log(`ml-lambda: creating ${spec.what} in ${spec.dir}`);
        fs.rmSync(spec.dir, { recursive: true, force: true }); // a leftover without the ready mark
        try {
            const python = spec.python ?? hostPython();
            run(python, ["-m", "venv", spec.dir], `create a virtualenv with ${python} (on Debian/Ubuntu: apt-get install python3-venv)`, spec);
            for (const args of spec.installs) {
                run(path.join(bin, "python"), ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off", ...args],
                    `install ${args.join(" ")} into ${spec.what}`, spec);
            }
            fs.writeFileSync(path.join(spec.dir, READY), `${spec.installs.map((a) => a.join(" ")).join("\n")}\n`);
        } catch (e) {
            fs.rmSync(spec.dir, { recursive: true, force: true }); // "nothing was kept", as the error says
            throw e;
        }
        return bin;
    } finally {
        release();
    }
}

function run(cmd: string, args: string[], what: string, spec: VenvSpec): void {
    const r = spawnSync(cmd, args, { stdio: ["ignore", 2, 2] });
    if (r.error || r.status !== 0) {
        throw new Error(
            `ml-lambda: could not ${what}: \`${cmd} ${args.join(" ")}\` ` +
                (r.error ? `failed: ${r.error.message}` : `exited with ${r.status} (output above)`) + "; nothing was kept" +
                (spec.fix ? `. ${spec.fix}` : cmd === (spec.python ?? hostPython()) ? ". Set ML_LAMBDA_PYTHON to a Python >= 3.9 interpreter." : ""),
        );
    }
}

/** Takes the lock directory, waiting while a live process holds it. Returns the release function. */
function lock(dir: string, onWait: () => void): () => void {
    let waited = false;
    for (;;) {
        try {
            fs.mkdirSync(dir);
            fs.writeFileSync(path.join(dir, "pid"), String(process.pid));
            return () => fs.rmSync(dir, { recursive: true, force: true });
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
        if (!ownerAlive(dir)) {
            fs.rmSync(dir, { recursive: true, force: true });
            continue;
        }
        if (!waited) onWait();
        waited = true;
        sleep(500);
    }
}

function ownerAlive(lockDir: string): boolean {
    let pid: number;
    try {
        pid = Number(fs.readFileSync(path.join(lockDir, "pid"), "utf8"));
    } catch {
        // Created but its pid not yet written: give the owner a moment, then judge by age.
        try {
            return Date.now() - fs.statSync(lockDir).mtimeMs < 10_000;
        } catch {
            return false;
        }
    }
    return pidAlive(pid);
}

/** Whether a process with this pid exists (EPERM: it does, under another user). */
export function pidAlive(pid: number): boolean {
    if (!Number.isInteger(pid) || pid <= 0) return false;
    if (pid === process.pid) return true;
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
}

/** The build is synchronous (the graph's shape waits on it), so waiting for a lock blocks too. */
function sleep(ms: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
