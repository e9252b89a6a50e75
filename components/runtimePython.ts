/**
 * The runtime's interpreter: a CPython of the function runtime's minor version on this host. The faithful run
 * (cli/run) mounts it as /var/lang; the build (packaging/bytecode.ts) compiles the layer's and the code's bytecode
 * with it, since a .pyc is only valid for the minor version that wrote it.
 * Looked for in this order: ML_LAMBDA_RUNTIME_PYTHON; pyenv's versions (PYENV_ROOT, `pyenv root`, ~/.pyenv);
 * `uv python find X.Y`. Only its standard library is used (the faithful run hides its site-packages).
 * Lives in components/ (not cli/) because the library uses it; the CLI re-exports it with its own error type.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** No usable interpreter for the runtime (or a wrong one named): the message says which version and how to get it. */
export class RuntimePythonError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RuntimePythonError";
    }
}

export interface RuntimePython {
    /** The interpreter as found (host path). */
    executable: string;
    /** Its installation prefix (sys.base_prefix): what is mounted as /var/lang. */
    prefix: string;
    /** Full version, e.g. "3.12.1". */
    version: string;
    /** How it was found. */
    via: "ML_LAMBDA_RUNTIME_PYTHON" | "pyenv" | "uv";
}

/** "python3.12" → "3.12". */
export function runtimeMinor(runtime: string): string {
    const m = /^python(\d+\.\d+)$/.exec(runtime);
    if (!m) throw new RuntimePythonError(`runtime "${runtime}" is not a Python runtime this runner knows (python3.X)`);
    return m[1];
}

interface Probe {
    version: string;
    prefix: string;
}

/** Asks an interpreter for its version and base prefix; undefined when it does not run. */
export function probePython(executable: string): Probe | undefined {
    const r = spawnSync(executable, ["-I", "-c", "import sys; print(sys.version.split()[0]); print(sys.base_prefix)"], {
        encoding: "utf8",
        timeout: 20_000,
    });
    if (r.error || r.status !== 0) return undefined;
    const [version, prefix] = r.stdout.trim().split("\n");
    return version && prefix ? { version, prefix } : undefined;
}

function versionKey(v: string): number[] {
    return v.split(/[.]/).map((p) => parseInt(p, 10) || 0);
}

function compareVersions(a: string, b: string): number {
    const [x, y] = [versionKey(a), versionKey(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
        const d = (x[i] ?? 0) - (y[i] ?? 0);
        if (d !== 0) return d;
    }
    return 0;
}

/** pyenv's root: PYENV_ROOT, else `pyenv root`, else ~/.pyenv. */
export function pyenvRoots(env: NodeJS.ProcessEnv): string[] {
    const roots: string[] = [];
    if (env.PYENV_ROOT) roots.push(env.PYENV_ROOT);
    const r = spawnSync("pyenv", ["root"], { encoding: "utf8", env: env as NodeJS.ProcessEnv, timeout: 10_000 });
    if (!r.error && r.status === 0 && r.stdout.trim()) roots.push(r.stdout.trim());
    roots.push(path.join(env.HOME ?? os.homedir(), ".pyenv"));
    return [...new Set(roots.map((p) => path.resolve(p)))];
}

/**
 * pyenv's builds of a Python minor version ("3.12"), newest patch first, over the given pyenv roots (pyenvRoots):
 * their directories (DIR/bin/python3.12 is the interpreter). One scan for the faithful run's interpreter and uv's
 * lock bookkeeping.
 */
export function pyenvBuilds(minor: string, roots: string[], listDir: (dir: string) => string[] = listOrEmpty): string[] {
    const out: string[] = [];
    const pattern = new RegExp(`^${minor.replace(".", "\\.")}\\.\\d+$`);
    for (const root of roots) {
        const versions = path.join(root, "versions");
        for (const name of listDir(versions).filter((n) => pattern.test(n)).sort(compareVersions).reverse()) out.push(path.join(versions, name));
    }
    return out;
}

function listOrEmpty(dir: string): string[] {
    try {
        return fs.readdirSync(dir);
    } catch {
        return [];
    }
}

/**
 * Checks that a prefix can be mounted as /var/lang: the standard CPython layout (bin/pythonX.Y, lib/pythonX.Y/os.py).
 * Debian's /usr prefix is refused: its dist-packages layout and patched site.py are not what Lambda runs.
 */
export function layoutProblem(prefix: string, minor: string): string | undefined {
    if (path.resolve(prefix) === "/usr") return `its prefix is /usr (a distribution's Python, with dist-packages and a patched site.py)`;
    if (!fs.existsSync(path.join(prefix, "bin", `python${minor}`))) return `${path.join(prefix, "bin", `python${minor}`)} is missing`;
    if (!fs.existsSync(path.join(prefix, "lib", `python${minor}`, "os.py"))) return `${path.join(prefix, "lib", `python${minor}`, "os.py")} is missing`;
    return undefined;
}

export function howToGet(minor: string): string {
    return `install CPython ${minor} with \`pyenv install ${minor}\` or \`uv python install ${minor}\`, ` +
        `or set ML_LAMBDA_RUNTIME_PYTHON to a python${minor} executable (a pyenv, uv or python.org build; not a virtualenv's copy of /usr/bin/python3)`;
}

export function findRuntimePython(runtime: string, env: NodeJS.ProcessEnv = process.env): RuntimePython {
    const minor = runtimeMinor(runtime);
    const looked: string[] = [];

    const explicit = env.ML_LAMBDA_RUNTIME_PYTHON;
    if (explicit) {
        const p = probePython(explicit);
        if (!p) throw new RuntimePythonError(`ML_LAMBDA_RUNTIME_PYTHON=${explicit} does not run: the function's runtime is ${runtime}; ${howToGet(minor)}`);
        if (!p.version.startsWith(`${minor}.`)) {
            throw new RuntimePythonError(`ML_LAMBDA_RUNTIME_PYTHON=${explicit} is Python ${p.version}, but the function's runtime is ${runtime} (needs ${minor}.x); ${howToGet(minor)}`);
        }
        const problem = layoutProblem(p.prefix, minor);
        if (problem) throw new RuntimePythonError(`ML_LAMBDA_RUNTIME_PYTHON=${explicit} cannot be mounted as the runtime's /var/lang: ${problem}; ${howToGet(minor)}`);
        return { executable: explicit, prefix: p.prefix, version: p.version, via: "ML_LAMBDA_RUNTIME_PYTHON" };
    }

    const roots = pyenvRoots(env);
    looked.push(...roots.map((root) => `${path.join(root, "versions")}/${minor}.*`));
    for (const dir of pyenvBuilds(minor, roots)) {
        const exe = path.join(dir, "bin", `python${minor}`);
        const p = fs.existsSync(exe) ? probePython(exe) : undefined;
        if (p && p.version.startsWith(`${minor}.`) && !layoutProblem(p.prefix, minor)) {
            return { executable: exe, prefix: p.prefix, version: p.version, via: "pyenv" };
        }
    }

    looked.push(`\`uv python find ${minor}\``);
    const uv = spawnSync("uv", ["python", "find", minor], { encoding: "utf8", env: env as NodeJS.ProcessEnv, timeout: 20_000 });
    if (!uv.error && uv.status === 0 && uv.stdout.trim()) {
        const exe = uv.stdout.trim().split("\n").pop()!;
        const p = probePython(exe);
        if (p && p.version.startsWith(`${minor}.`) && !layoutProblem(p.prefix, minor)) return { executable: exe, prefix: p.prefix, version: p.version, via: "uv" };
        if (p) looked[looked.length - 1] += ` (found ${exe}, Python ${p.version}: ${layoutProblem(p.prefix, minor) ?? "wrong version"})`;
    }

    throw new RuntimePythonError(`no CPython ${minor} for the function's runtime ${runtime} (looked at ML_LAMBDA_RUNTIME_PYTHON, ${looked.join(", ")}): ${howToGet(minor)}`);
}
