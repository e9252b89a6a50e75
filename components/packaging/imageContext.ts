import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { bundledPython } from "../assets";

/**
 * The image path's Docker build context, staged by the component so `docker build` never downloads the model:
 *
 *   Dockerfile, .dockerignore   the Dockerfile given (bundled by default) and its ignore file
 *   requirements.txt            the requirements file given, under a fixed name
 *   src/                        handlerDir (the function code root)
 *   model/                      the prepared model directory (plain files)
 *   docker/                     the Dockerfile's RUN-step scripts (bundled)
 *
 * The directory is named by a hash of everything in it, so an unchanged context is reused as is and the hash
 * doubles as the image tag (the ECR repository's tags are immutable).
 *
 * Modes are set here, not in the Dockerfile: COPY keeps the context's modes, Lambda runs the image as a non-root
 * user, and a chmod after COPY would store the model a second time in its own layer. Model files are 0444,
 * other files 0644, directories 0755, whatever the umask or the source's modes were.
 */
export interface StagedContext {
    dir: string;
    dockerfile: string;
    /** sha256 hex of every staged path and content. */
    hash: string;
    files: number;
    bytes: number;
}

export interface StageInput {
    cacheDir: string;
    dockerfile: string;
    requirements: string;
    handlerDir: string;
    modelDir: string;
    /** Content key of the model (already a hash of its files): saves re-hashing ~90 MB on every run. */
    modelContentKey: string;
}

/** Bumped when the staged layout or modes change, so an older context with the same inputs is not reused. */
const CONTEXT_FORMAT = "2";
export const MODEL_FILE_MODE = 0o444;
export const FILE_MODE = 0o644;
export const DIR_MODE = 0o755;

const SKIP = new Set(["__pycache__", ".pytest_cache", ".mypy_cache", ".git", "tests"]);

function walk(root: string, rel = ""): string[] {
    const out: string[] = [];
    for (const ent of fs.readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        if (SKIP.has(ent.name) || ent.name.endsWith(".pyc")) continue;
        const r = path.join(rel, ent.name);
        if (ent.isDirectory()) out.push(...walk(root, r));
        else if (ent.isFile()) out.push(r);
    }
    return out;
}

/** Source → destination pairs of the context, except the model (hashed by its content key). */
function contextEntries(input: StageInput): Array<[string, string]> {
    const bundled = bundledPython();
    const entries: Array<[string, string]> = [
        [input.dockerfile, "Dockerfile"],
        [input.requirements, "requirements.txt"],
    ];
    const ignore = path.join(path.dirname(input.dockerfile), ".dockerignore");
    if (fs.existsSync(ignore)) entries.push([ignore, ".dockerignore"]);
    if (fs.existsSync(bundled.dockerScripts)) {
        for (const f of walk(bundled.dockerScripts)) entries.push([path.join(bundled.dockerScripts, f), path.join("docker", f)]);
    }
    for (const f of walk(input.handlerDir)) entries.push([path.join(input.handlerDir, f), path.join("src", f)]);
    return entries;
}

export function contextHash(input: StageInput): string {
    const h = crypto.createHash("sha256").update(`format\0${CONTEXT_FORMAT}\nmodel\0${input.modelContentKey}\n`);
    for (const [src, dest] of contextEntries(input)) {
        h.update(`${dest}\0`).update(fs.readFileSync(src)).update("\n");
    }
    return h.digest("hex");
}

export function stageImageContext(input: StageInput): StagedContext {
    const hash = contextHash(input);
    const dir = path.join(input.cacheDir, "image-context", hash);
    const entries = contextEntries(input);
    if (!fs.existsSync(dir)) {
        fs.mkdirSync(path.dirname(dir), { recursive: true });
        const tmp = fs.mkdtempSync(path.join(path.dirname(dir), ".stage-"));
        try {
            for (const [src, dest] of entries) {
                fs.mkdirSync(path.dirname(path.join(tmp, dest)), { recursive: true });
                fs.copyFileSync(src, path.join(tmp, dest));
                fs.chmodSync(path.join(tmp, dest), FILE_MODE);
            }
            for (const f of walk(input.modelDir)) {
                const target = path.join(tmp, "model", f);
                fs.mkdirSync(path.dirname(target), { recursive: true });
                stageModelFile(path.join(input.modelDir, f), target);
            }
            setDirModes(tmp);
            fs.renameSync(tmp, dir); // atomic: a half-staged context is never reused
        } catch (e) {
            fs.rmSync(tmp, { recursive: true, force: true });
            throw e;
        }
    }
    let files = 0;
    let bytes = 0;
    for (const f of walk(dir)) {
        files++;
        bytes += fs.statSync(path.join(dir, f)).size;
    }
    return { dir, dockerfile: path.join(dir, "Dockerfile"), hash, files, bytes };
}

/**
 * Hard links keep a 90 MB model from being copied per context. The prepared model in the cache is content-addressed
 * and never rewritten, so making its files read-only (0444) in place is safe, and the link then carries the right
 * mode; when that or linking is not possible (another owner, another file system), copy and set the mode.
 */
function stageModelFile(src: string, target: string): void {
    try {
        if ((fs.statSync(src).mode & 0o7777) !== MODEL_FILE_MODE) fs.chmodSync(src, MODEL_FILE_MODE);
        fs.linkSync(src, target);
        return;
    } catch {
        // fall through to a copy
    }
    fs.copyFileSync(src, target);
    fs.chmodSync(target, MODEL_FILE_MODE);
}

function setDirModes(root: string): void {
    fs.chmodSync(root, DIR_MODE);
    for (const ent of fs.readdirSync(root, { withFileTypes: true })) {
        if (ent.isDirectory()) setDirModes(path.join(root, ent.name));
    }
}

/** The paths a Dockerfile COPYs from its context (first argument(s) of each COPY without --from). */
export function dockerfileCopySources(dockerfileText: string): string[] {
    const sources: string[] = [];
    const joined = dockerfileText.replace(/\\\r?\n/g, " ");
    for (const line of joined.split(/\r?\n/)) {
        const m = /^\s*(COPY|ADD)\s+(.*)$/i.exec(line);
        if (!m || /--from=/.test(m[2])) continue;
        const parts = m[2].split(/\s+/).filter((p) => p && !p.startsWith("--"));
        sources.push(...parts.slice(0, -1));
    }
    return sources;
}
