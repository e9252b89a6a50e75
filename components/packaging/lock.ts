/**
 * A uv project (pyproject.toml + uv.lock) as the dependency source. The locked versions are what gets built and
 * measured: uv (pinned, from PyPI, in the installers' tool venv) checks that the lock still matches its
 * pyproject.toml, then exports it to a pinned requirements list, which the layer build (zip path) and the image
 * context (image path, as its requirements.txt) take exactly as they take a requirements file.
 *
 * What is taken: the project's `[project] dependencies` and what they pull in, as locked. Not taken: extras
 * (`[project.optional-dependencies]`), dependency groups (`dev` and any other, default groups included), and the
 * project itself (the function's code is `handlerDir`). A lock that pins a local package (a path or workspace
 * member) is refused: a layer is built from binary wheels only.
 *
 * The export is cached under `<cacheDir>/locks/<key>`, the key a hash of pyproject.toml, uv.lock, the uv version and
 * the export options: an unchanged project runs no uv at all; a changed lock exports anew, and the layer key (a
 * hash of the pinned lines) then decides whether the layer is rebuilt.
 *
 * Pure parts (exported, unit-tested): the command lines, reading uv's verdicts, the registries a lock uses, local
 * packages in an export, requires-python against the runtime, the interpreters uv may use.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { MlLambdaError } from "../errors";
import { hostPython } from "../python";
import { pyenvBuilds, pyenvRoots } from "../runtimePython";
import { RUNTIMES, Runtime } from "../limits";
import { RequirementsSource, requirementsSource, RESOLVE_UNLOCKED_ENV } from "../validate";
import { toolsVenv, UV, UV_VERSION, uvErrorLines } from "./installers";
import { normalizeName, requirementName } from "./requirements";

/** Bump when the exported file's content for the same inputs changes. Part of the key. */
const LOCK_EXPORT_FORMAT = 1;
export const PYPI_SIMPLE = "https://pypi.org/simple";
/** What a uv project contributes to the function's dependencies (for messages and docs). */
export const EXPORT_SCOPE = "[project] dependencies as locked; no extras, no dependency groups, not the project itself";

// ---------------------------------------------------------------------------------------------------------
// Pure parts
// ---------------------------------------------------------------------------------------------------------

/**
 * `uv export` of the lock, unchanged (--frozen: never re-resolves; the freshness check runs before), as a pinned
 * requirements list without hashes, without the project, without any dependency group. Index URLs are emitted only
 * when the lock resolved from somewhere other than PyPI (e.g. the PyTorch CPU index): otherwise the installer's own
 * index settings (PIP_INDEX_URL, a mirror) apply, as they do to a requirements file.
 */
export function uvExportArgs(o: { emitIndexUrl: boolean }): string[] {
    return [
        "export", "--frozen", "--format", "requirements.txt",
        "--no-default-groups", "--no-hashes", "--no-emit-project", "--no-header",
        ...(o.emitIndexUrl ? ["--emit-index-url"] : []),
    ];
}

/** uv's own freshness check of uv.lock against pyproject.toml; offline first (it decides without the network when the lock matches). */
export function uvLockCheckArgs(python: string, offline: boolean): string[] {
    return ["lock", "--check", "--python", python, ...(offline ? ["--offline"] : [])];
}

/** Resolution of a pyproject.toml without a lock (only with the RESOLVE_UNLOCKED_ENV opt-in). */
export function uvLockArgs(python: string): string[] {
    return ["lock", "--python", python];
}

export type LockCheck = "fresh" | "stale" | "undecided" | "no-python" | "error";

/**
 * Reads `uv lock --check`: 0 is a lock that matches; uv 0.13 says "The lockfile at `uv.lock` needs to be updated,
 * but `--check` was provided" for a stale one. Offline, a stale lock fails earlier (uv tries to resolve and the
 * network is off): "undecided", to be asked again online. uv resolves an interpreter for requires-python before
 * anything else: a missing or non-matching one is "no-python" (try the next candidate).
 */
export function classifyLockCheck(status: number | null, output: string, offline: boolean): LockCheck {
    if (status === 0) return "fresh";
    if (/needs to be updated/.test(output)) return "stale";
    if (/incompatible with the project's Python requirement|No interpreter found|Failed to inspect Python interpreter|not satisfy the project's Python requirement/i.test(output)) {
        return "no-python";
    }
    return offline ? "undecided" : "error";
}

/** The package registries uv.lock resolved from (`source = { registry = "..." }`), normalised, in order of appearance. */
export function lockRegistries(lockText: string): string[] {
    const out: string[] = [];
    for (const m of lockText.matchAll(/source\s*=\s*\{\s*registry\s*=\s*"([^"]+)"/g)) {
        const url = m[1].replace(/\/+$/, "");
        if (!out.includes(url)) out.push(url);
    }
    return out;
}

/** Lines of an export that name local packages (editable or path installs): a layer cannot build them. */
export function localPackages(exportText: string): string[] {
    return exportText.split(/\r?\n/).map((l) => l.trim())
        .filter((l) => /^-e\s|^--editable[\s=]/.test(l) || /^(\.{1,2}\/|\/|file:)/.test(l));
}

/** The pinned requirement lines of an export (without comments and options). */
export function pinnedLines(exportText: string): string[] {
    return exportText.split(/\r?\n/).map((l) => l.replace(/(^|\s)#.*$/, "").trim()).filter((l) => l !== "" && !l.startsWith("-"));
}

/** uv.lock's top-level requires-python, e.g. ">=3.12". */
export function lockRequiresPython(lockText: string): string | undefined {
    return /^requires-python\s*=\s*"([^"]+)"/m.exec(lockText)?.[1];
}

/**
 * Whether a Lambda runtime's Python satisfies a requires-python specifier set (PEP 440 clauses ~= == != <= >= < >,
 * with .* ). The runtime is a major.minor whose patch Lambda chooses, so a clause holds when some patch of it
 * satisfies it: the gate refuses only a runtime the lock cannot serve at all (">=3.13" for python3.12), and
 * leaves finer points to uv and the installer.
 */
export function pythonSatisfies(version: string, specifier: string): boolean {
    const [maj, min] = version.split(".").map(Number);
    const cmp = (a: number[], b: number[]) => {
        for (let i = 0; i < Math.max(a.length, b.length); i++) {
            const d = (a[i] ?? 0) - (b[i] ?? 0);
            if (d !== 0) return Math.sign(d);
        }
        return 0;
    };
    const newest = [maj, min, Number.MAX_SAFE_INTEGER];
    const oldest = [maj, min, 0];
    /** The runtime agrees with the first n (at most 2) components of r. */
    const prefix = (r: number[], n: number) => [maj, min].slice(0, Math.min(n, 2)).every((x, i) => x === (r[i] ?? 0));
    return specifier.split(",").map((c) => c.trim()).filter(Boolean).every((clause) => {
        const m = /^(~=|===|==|!=|<=|>=|<|>)\s*(\d+(?:\.\d+)*)(\.\*)?$/.exec(clause);
        if (!m) return true; // a clause this cannot read (pre-release tags...) is left to uv and the installer
        const [, op, rel, star] = m;
        const r = rel.split(".").map(Number);
        switch (op) {
            case ">=": return cmp(newest, r) >= 0;
            case ">": return cmp(newest, r) > 0;
            case "<=": return cmp(oldest, r) <= 0;
            case "<": return cmp(oldest, r) < 0;
            case "==": case "===": return star ? prefix(r, r.length) : prefix(r, 2) && r.slice(3).every((x) => x === 0);
            case "!=": return !(star && r.length <= 2 && prefix(r, r.length));
            case "~=": return cmp(newest, r) >= 0 && prefix(r, r.length - 1);
            default: return true;
        }
    });
}

/**
 * Interpreters uv may use for its requires-python bookkeeping (it runs none of the project's code), best first:
 * ML_LAMBDA_PYTHON; pyenv's builds of the runtime's Python (newest patch first); uv's own discovery of that version
 * ("3.12": PATH and uv-managed Pythons; downloads stay off); the host's python3.
 */
export function uvPythonCandidates(runtime: Runtime, env: NodeJS.ProcessEnv = process.env, listDir?: (d: string) => string[]): string[] {
    const py = RUNTIMES[runtime].python;
    const out: string[] = [];
    if (env.ML_LAMBDA_PYTHON) out.push(env.ML_LAMBDA_PYTHON);
    for (const dir of pyenvBuilds(py, pyenvRoots(env), listDir)) out.push(path.join(dir, "bin", `python${py}`));
    out.push(py, "python3");
    return [...new Set(out)];
}

// ---------------------------------------------------------------------------------------------------------
// Running uv
// ---------------------------------------------------------------------------------------------------------

export interface PinnedRequirements {
    /** The file the layer build and the image context take: the requirements file itself, or the exported pins. */
    file: string;
    source: RequirementsSource["kind"];
    /** The files the user edits that this was made from: the requirements file, or the uv project's files. */
    read: Array<{ what: string; path: string }>;
    /** uv projects: the pinned lines exported. */
    pins?: string[];
    /** uv projects: the export came from the cache (no uv run). */
    cacheHit?: boolean;
    /** uv projects: wall time of the check + export (0 on a cache hit). */
    ms?: number;
}

interface UvRun {
    status: number | null;
    output: string;
}

function runUv(uv: string, args: string[], cwd: string, cacheDir: string): UvRun {
    const r = spawnSync(uv, args, {
        cwd,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        maxBuffer: 64 * 1024 * 1024,
        env: {
            ...process.env,
            UV_CACHE_DIR: path.join(path.resolve(cacheDir), "uv"),
            UV_PYTHON_DOWNLOADS: "never", // never fetch an interpreter as a side effect of a deploy
            UV_NO_PROGRESS: "1",
        },
    });
    if (r.error) throw new Error(`ml-lambda: could not run uv (${uv}): ${r.error.message}`);
    return { status: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** Runs `uv lock [--check]` with the first interpreter uv accepts. */
function withPython(runtime: Runtime, what: string, src: { projectDir: string; pyproject: string }, attempt: (python: string) => { done: boolean; run: UvRun }): { python: string; run: UvRun } {
    const tried: string[] = [];
    for (const python of uvPythonCandidates(runtime)) {
        const { done, run } = attempt(python);
        if (done) return { python, run };
        tried.push(`${python} (${uvErrorLines(run.output)[0] ?? `exit ${run.status}`})`);
    }
    throw new MlLambdaError("requirements", src.pyproject,
        `${what} needs a Python interpreter that satisfies the project's requires-python (uv runs none of its code); tried: ${tried.join("; ")}`,
        `install Python ${RUNTIMES[runtime].python} (the runtime's version), or set ML_LAMBDA_PYTHON to an interpreter within requires-python`);
}

/**
 * The pinned requirements to build: a requirements file as is; a uv project's lock checked and exported (cached).
 * Throws MlLambdaError for a stale lock, a missing one (unless the resolve opt-in is set), a local package in the
 * lock, or a runtime outside the lock's requires-python.
 */
export function pinnedRequirements(o: { requirements: string; runtime: Runtime; cacheDir: string; log?: (line: string) => void }): PinnedRequirements {
    const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const src = requirementsSource(o.requirements);
    if (src.kind === "requirements") return { file: src.file, source: src.kind, read: [{ what: "the requirements file", path: src.file }] };
    const read = [{ what: "the uv project's pyproject.toml", path: src.pyproject }, ...(src.kind === "uv.lock" ? [{ what: "the uv project's lock", path: src.lock }] : [])];

    const pyprojectText = fs.readFileSync(src.pyproject, "utf8");
    const lockText = src.kind === "uv.lock" ? fs.readFileSync(src.lock, "utf8") : undefined;
    const what = src.kind === "uv.lock" ? `uv.lock of ${src.projectDir}` : `${src.pyproject} (no lock: resolved, ${RESOLVE_UNLOCKED_ENV}=1)`;
    if (src.kind === "uv.lock") checkRuntime(lockText!, o.runtime, src.lock);
    const key = crypto.createHash("sha256").update(JSON.stringify({
        format: LOCK_EXPORT_FORMAT, uv: UV_VERSION, kind: src.kind, pyproject: pyprojectText, lock: lockText ?? null, scope: EXPORT_SCOPE,
    })).digest("hex");
    const locksDir = path.join(path.resolve(o.cacheDir), "locks");
    const entry = path.join(locksDir, key);
    const file = path.join(entry, "requirements.txt");
    if (fs.existsSync(path.join(entry, "export.json")) && fs.existsSync(file)) {
        const pins = pinnedLines(fs.readFileSync(file, "utf8"));
        log(`ml-lambda: ${what}: cache hit ${key.slice(0, 12)} (no uv run), ${pins.length} pinned`);
        return { file, source: src.kind, read, pins, cacheHit: true, ms: 0 };
    }

    const started = Date.now();
    const uv = path.join(toolsVenv(o.cacheDir, UV, log), "uv");
    fs.mkdirSync(locksDir, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(locksDir, ".tmp-"));
    try {
        let workDir = src.projectDir;
        let locked = lockText;
        if (src.kind === "uv.lock") {
            log(`ml-lambda: checking ${src.lock} against pyproject.toml with uv ${UV_VERSION} (offline first)`);
            const { run } = withPython(o.runtime, "checking uv.lock", src, (python) => {
                const offline = runUv(uv, uvLockCheckArgs(python, true), src.projectDir, o.cacheDir);
                const verdict = classifyLockCheck(offline.status, offline.output, true);
                if (verdict === "no-python") return { done: false, run: offline };
                if (verdict !== "undecided") return { done: true, run: offline };
                log(`ml-lambda: the offline check could not decide; asking uv again with the network`);
                const online = runUv(uv, uvLockCheckArgs(python, false), src.projectDir, o.cacheDir);
                return { done: classifyLockCheck(online.status, online.output, false) !== "no-python", run: online };
            });
            const verdict = classifyLockCheck(run.status, run.output, false);
            if (verdict === "stale") {
                throw new MlLambdaError("requirements", src.lock,
                    `uv.lock does not match ${src.pyproject} (uv lock --check: "${uvErrorLines(run.output).find((l) => /needs to be updated/.test(l)) ?? "needs to be updated"}"): pyproject.toml changed since the lock was made`,
                    `run \`uv lock\` in ${src.projectDir} and commit the updated uv.lock`);
            }
            if (verdict !== "fresh") {
                throw new MlLambdaError("requirements", src.lock, `uv could not check the lock: ${uvErrorLines(run.output).join(" | ") || `exit ${run.status}`}`,
                    `run \`uv lock --check\` in ${src.projectDir} to see the cause (a network or index error, a malformed pyproject.toml)`);
            }
        } else {
            // Resolve a copy in the cache: the user's project is never written to.
            log(`ml-lambda: ${src.pyproject} has no uv.lock; resolving it now (${RESOLVE_UNLOCKED_ENV}=1) with uv ${UV_VERSION}: versions may differ from one deploy to the next`);
            workDir = path.join(tmp, "project");
            fs.mkdirSync(workDir);
            fs.copyFileSync(src.pyproject, path.join(workDir, "pyproject.toml"));
            const { run } = withPython(o.runtime, "resolving pyproject.toml", src, (python) => {
                const r = runUv(uv, uvLockArgs(python), workDir, o.cacheDir);
                return { done: r.status === 0 || classifyLockCheck(r.status, r.output, false) !== "no-python", run: r };
            });
            if (run.status !== 0) {
                throw new MlLambdaError("requirements", src.pyproject, `uv could not resolve it: ${uvErrorLines(run.output).join(" | ") || `exit ${run.status}`}`,
                    `fix what uv names, then run \`uv lock\` in ${src.projectDir} and commit uv.lock`);
            }
            locked = fs.readFileSync(path.join(workDir, "uv.lock"), "utf8");
            checkRuntime(locked, o.runtime, src.pyproject);
        }
        const emitIndexUrl = lockRegistries(locked ?? "").some((r) => r !== PYPI_SIMPLE);
        const exported = runUv(uv, uvExportArgs({ emitIndexUrl }), workDir, o.cacheDir);
        if (exported.status !== 0) {
            throw new MlLambdaError("requirements", o.requirements, `uv export failed: ${uvErrorLines(exported.output).join(" | ") || `exit ${exported.status}`}`,
                `run \`uv export --frozen --no-hashes\` in ${src.projectDir} to see the cause`);
        }
        const local = localPackages(exported.output);
        if (local.length) {
            throw new MlLambdaError("requirements", o.requirements,
                `the lock pins local package(s) ${local.map((l) => `"${l}"`).join(", ")}; a layer is built from binary wheels only`,
                "publish them as wheels to an index and lock that, or move their code into handlerDir");
        }
        const lockSha = crypto.createHash("sha256").update(locked ?? "").digest("hex");
        const pins = pinnedLines(exported.output);
        const header = `# ${pins.length} pins exported by ml-lambda with uv ${UV_VERSION} from ${src.kind === "uv.lock" ? "uv.lock" : "a resolution of pyproject.toml"} (sha256 ${lockSha.slice(0, 16)}): ${EXPORT_SCOPE}\n`;
        const tool = readToolTable(src.pyproject, pyprojectText);
        const directives = tool ? omitDirectives(tool, pins, exported.output, src.pyproject) : "";
        fs.writeFileSync(path.join(tmp, "requirements.txt"), header + exported.output + directives);
        if (src.kind === "pyproject") fs.copyFileSync(path.join(workDir, "uv.lock"), path.join(tmp, "uv.lock"));
        fs.writeFileSync(path.join(tmp, "export.json"), JSON.stringify({ format: LOCK_EXPORT_FORMAT, key, source: src.kind, uv: UV_VERSION, lockSha256: lockSha, pins: pins.length }, null, 1));
        fs.rmSync(path.join(tmp, "project"), { recursive: true, force: true });
        try {
            fs.renameSync(tmp, entry);
        } catch (e) {
            if (!fs.existsSync(path.join(entry, "export.json"))) throw e; // else a concurrent run wrote the same entry
        }
        const ms = Date.now() - started;
        log(`ml-lambda: ${what}: ${pins.length} pinned from the lock in ${(ms / 1000).toFixed(1)} s (${EXPORT_SCOPE})`);
        return { file, source: src.kind, read, pins, cacheHit: false, ms };
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

/**
 * The distributions a uv export says the project itself asks for: the pins annotated `# via <project>`
 * (uv writes `# via X` on one line, or `# via` followed by one `#   X` line per dependent). Normalised names.
 */
export function uvDirectDependencies(exportText: string, project: string): string[] {
    const me = normalizeName(project);
    const out: string[] = [];
    let current: string | undefined;
    let inVia = false;
    for (const raw of exportText.split(/\r?\n/)) {
        const pin = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==/.exec(raw);
        if (pin) {
            current = normalizeName(pin[1]);
            inVia = false;
            continue;
        }
        const via = /^\s+#\s+via(?:\s+(\S+))?\s*$/.exec(raw);
        const more = /^\s+#\s{2,}(\S+)\s*$/.exec(raw);
        const dependent = via ? via[1] : inVia ? more?.[1] : undefined;
        if (via) inVia = via[1] === undefined;
        if (current && dependent && normalizeName(dependent) === me && !out.includes(current)) out.push(current);
    }
    return out;
}

/** `[tool.ml-lambda]` in a pyproject.toml, as the layer build uses it. */
export interface ToolTable {
    /** The project's name ([project] name): uv's annotations name it. */
    project: string;
    /** Distributions to leave out of the layer, as a requirements file's `# ml-lambda:omit` lines do. */
    omit: string[];
}

// tomllib (Python 3.11+, the standard library): the deploy host already runs python3 for the build steps.
const READ_TOOL_TABLE = `
import json, sys, tomllib
with open(sys.argv[1], "rb") as f:
    doc = tomllib.load(f)
print(json.dumps({"project": doc.get("project", {}).get("name"), "table": doc.get("tool", {}).get("ml-lambda")}))
`;

/** The pyproject's `[tool.ml-lambda]` table, checked; undefined when it has none (then no Python runs). */
export function readToolTable(pyproject: string, text: string = fs.readFileSync(pyproject, "utf8")): ToolTable | undefined {
    if (!/^\s*\[\s*tool\s*\.\s*"?ml-lambda"?\s*\]/m.test(text) && !/^\s*tool\s*\.\s*"?ml-lambda"?\s*\./m.test(text)) return undefined;
    const setting = "requirements";
    const where = `${pyproject} [tool.ml-lambda]`;
    const python = hostPython();
    const r = spawnSync(python, ["-c", READ_TOOL_TABLE, pyproject], { encoding: "utf8" });
    if (r.error || r.status !== 0) {
        const why = r.error?.message ?? (r.stderr.trim().split("\n").pop() || `exit ${r.status}`);
        throw new MlLambdaError(setting, where, `reading it needs Python 3.11+ (tomllib) as ${python}, which failed: ${why}`,
            "fix the TOML that error names, or point ML_LAMBDA_PYTHON at Python 3.11 or newer");
    }
    const doc = JSON.parse(r.stdout) as { project?: unknown; table?: unknown };
    const table = doc.table as Record<string, unknown> | undefined;
    if (table === undefined || table === null) return undefined;
    const unknown = Object.keys(table).filter((k) => k !== "omit");
    if (unknown.length) {
        throw new MlLambdaError(setting, where, `unknown key(s) ${unknown.map((k) => `"${k}"`).join(", ")}: the table takes "omit" only`,
            'write omit = ["distribution", ...] (the distributions to leave out of the layer), or remove the other keys');
    }
    const omit = table.omit ?? [];
    if (!Array.isArray(omit) || omit.some((n) => typeof n !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(n))) {
        throw new MlLambdaError(setting, `${where} omit = ${JSON.stringify(omit)}`, "omit must be a list of distribution names",
            'write omit = ["huggingface-hub", "protobuf"], as the names appear in uv.lock');
    }
    if (typeof doc.project !== "string") {
        throw new MlLambdaError(setting, pyproject, "[tool.ml-lambda] omit needs [project] name (uv's annotations name the project)", "give the project a name");
    }
    return { project: doc.project, omit: [...new Set(omit.map((n) => normalizeName(n as string)))] };
}

/**
 * The lines appended to a uv export so the layer build leaves out what [tool.ml-lambda] omit names: the omit line,
 * and the project's direct dependencies (every pin is in the export, so the omission needs to know the roots).
 * An omitted name the lock does not pin is a mistake, named with the pins' names.
 */
export function omitDirectives(tool: ToolTable, pins: string[], exportText: string, pyproject: string): string {
    if (tool.omit.length === 0) return "";
    const pinned = pins.map((l) => requirementName(l)).filter((n): n is string => n !== undefined);
    const missing = tool.omit.filter((n) => !pinned.includes(n));
    if (missing.length) {
        throw new MlLambdaError("requirements", `${pyproject} [tool.ml-lambda] omit`,
            `${missing.map((n) => `"${n}"`).join(", ")} ${missing.length === 1 ? "is" : "are"} not pinned by the lock (it pins ${pinned.join(", ")})`,
            "omit only distributions the lock installs (check the spelling), or remove the name");
    }
    const direct = uvDirectDependencies(exportText, tool.project);
    return `# ml-lambda:omit ${tool.omit.join(" ")}   ([tool.ml-lambda] omit in pyproject.toml)\n` +
        `# ml-lambda:direct ${direct.join(" ")}   (the project's own dependencies, from uv's annotations)\n`;
}

/** The runtime's Python must be inside the lock's requires-python: uv resolved for that range only. */
function checkRuntime(lockText: string, runtime: Runtime, file: string): void {
    const rp = lockRequiresPython(lockText);
    if (rp !== undefined && !pythonSatisfies(RUNTIMES[runtime].python, rp)) {
        throw new MlLambdaError("runtime", runtime, `${file} was resolved for requires-python "${rp}", which excludes Python ${RUNTIMES[runtime].python}`,
            `choose a runtime within "${rp}", or widen requires-python in pyproject.toml and run \`uv lock\``);
    }
}
