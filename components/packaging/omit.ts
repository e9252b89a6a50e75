/**
 * Distributions a requirements file asks to leave out of the layer: `# ml-lambda:omit NAME [NAME...]` lines.
 *
 * pip has no per-requirement --no-deps, so a package that is required but never imported still lands in the layer
 * with everything it pulls in. The bundled ONNX profile is the case in point: tokenizers requires huggingface-hub
 * (and through it hf-xet, PyYAML, httpx2, fsspec, ... 22 MB) for Tokenizer.from_pretrained only, which the function
 * never calls (it reads tokenizer.json with Tokenizer.from_file); onnxruntime requires protobuf, flatbuffers and
 * packaging for its Python tooling (onnxruntime.transformers, .quantization, .tools), not for an InferenceSession.
 * The faithful run's module probe over every request shape (test/run-e2e.spec.ts) shows none of them imported.
 *
 * The installer still resolves and installs everything (so the pins are checked as before); then each omitted
 * distribution is removed by its RECORD, with every distribution that only it brought in (nothing else left in the
 * layer requires it, and the requirements file does not name it outside an omit line). Being a comment, the line
 * changes nothing for pip itself, so the image path (which pip-installs the same file) keeps every package; and a
 * requirements file without omit lines (every user's own, unless they write one) is built exactly as before.
 */
import * as fs from "fs";
import * as path from "path";
import { measureDir, parseRecord } from "./measure";
import { normalizeName } from "./requirements";

export interface OmittedDistribution {
    /** The distribution's name as its METADATA spells it. */
    name: string;
    bytes: number;
    files: number;
    /** "omit line" (named by an omit line), or the omitted distribution it was installed for. */
    reason: string;
}

const OMIT_LINE = /^\s*#\s*ml-lambda:omit\s+(.+)$/;
/**
 * `# ml-lambda:direct NAME...`: the distributions the project itself asks for. A file that pins every distribution
 * (a uv export) names the ones pulled in only by an omitted distribution too; this line says which are the roots,
 * so what only the omitted ones need goes with them (lock.ts writes it from uv's "# via" annotations).
 */
const DIRECT_LINE = /^\s*#\s*ml-lambda:direct\s+(.+)$/;

/** The names (PEP 503-normalised) of every omit line in a requirements file's text, in order, without repeats. */
export function parseOmitLines(text: string): string[] {
    return directiveNames(text, OMIT_LINE);
}

/** The names of the file's `# ml-lambda:direct` lines, or undefined when it has none. */
export function parseDirectLines(text: string): string[] | undefined {
    return text.split(/\r?\n/).some((l) => DIRECT_LINE.test(l)) ? directiveNames(text, DIRECT_LINE) : undefined;
}

function directiveNames(text: string, line: RegExp): string[] {
    const out: string[] = [];
    for (const raw of text.split(/\r?\n/)) {
        const m = line.exec(raw);
        if (!m) continue;
        // Names up to the first word that is not one: "# ml-lambda:omit protobuf flatbuffers (onnxruntime's tools)".
        for (const word of m[1].trim().split(/\s+/)) {
            if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(word)) break;
            const n = normalizeName(word);
            if (!out.includes(n)) out.push(n);
        }
    }
    return out;
}

/**
 * Which installed distributions go: the omitted ones and those reachable only through them. Pure: `deps` is the
 * measured dependency graph (display names), `wanted` the requirement names of the file (normalised).
 */
export function omissionPlan(deps: Record<string, string[]>, wanted: string[], omit: string[]): Map<string, string> {
    const names = Object.keys(deps);
    const norm = (n: string) => normalizeName(n);
    const omitted = new Set(names.filter((n) => omit.includes(norm(n))));
    if (omitted.size === 0) return new Map();
    const required = new Set(names.flatMap((n) => deps[n]));
    const roots = names.filter((n) => !omitted.has(n) && (wanted.includes(norm(n)) || !required.has(n)));
    const kept = new Set<string>();
    const stack = [...roots];
    while (stack.length) {
        const n = stack.pop()!;
        if (kept.has(n) || omitted.has(n)) continue;
        kept.add(n);
        for (const d of deps[n] ?? []) stack.push(d);
    }
    const out = new Map<string, string>();
    for (const n of [...omitted].sort()) out.set(n, "omit line");
    // What each removed distribution was installed for: the first omitted one that reaches it.
    for (const o of [...omitted].sort()) {
        const seen = new Set<string>();
        const walk = [...(deps[o] ?? [])];
        while (walk.length) {
            const n = walk.pop()!;
            if (seen.has(n)) continue;
            seen.add(n);
            if (!kept.has(n) && !out.has(n)) out.set(n, o);
            for (const d of deps[n] ?? []) walk.push(d);
        }
    }
    return out;
}

/**
 * Removes the omitted distributions (and what only they brought) from an installed site directory, by their RECORD
 * files. `wanted`: the requirement names of the file (or its direct lines). Returns what went, largest first.
 */
export function omitDistributions(site: string, omit: string[], wanted: string[]): OmittedDistribution[] {
    if (omit.length === 0) return [];
    const m = measureDir(site);
    const plan = omissionPlan(m.dependencies ?? {}, wanted, omit);
    if (plan.size === 0) return [];
    const sizes = new Map(m.packages.map((p) => [p.name, p]));
    const distInfo = new Map<string, string>();
    for (const ent of fs.readdirSync(site)) {
        if (!ent.endsWith(".dist-info")) continue;
        const meta = path.join(site, ent, "METADATA");
        const name = fs.existsSync(meta) ? /^Name:\s*(\S+)\s*$/m.exec(fs.readFileSync(meta, "utf8").split(/\r?\n\r?\n/)[0])?.[1] : undefined;
        distInfo.set(name ?? ent.replace(/-[^-]+\.dist-info$/, ""), ent);
    }
    const out: OmittedDistribution[] = [];
    const root = path.resolve(site);
    for (const [name, reason] of plan) {
        const ent = distInfo.get(name);
        if (!ent) continue;
        const dirs = new Set<string>();
        for (const rel of parseRecord(fs.readFileSync(path.join(site, ent, "RECORD"), "utf8"))) {
            const abs = path.resolve(root, rel);
            if (!abs.startsWith(root + path.sep)) continue; // ../../bin scripts: slimming removes python/bin
            fs.rmSync(abs, { force: true });
            dirs.add(path.dirname(abs));
        }
        fs.rmSync(path.join(site, ent), { recursive: true, force: true });
        for (const d of [...dirs].sort((a, b) => b.length - a.length)) removeEmptyUpTo(d, root);
        const size = sizes.get(name);
        out.push({ name, bytes: size?.bytes ?? 0, files: size?.files ?? 0, reason });
    }
    return out.sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : 1));
}

/** Removes `dir` and its parents while they are empty, stopping at `root` (exclusive). */
function removeEmptyUpTo(dir: string, root: string): void {
    let d = dir;
    while (d.startsWith(root + path.sep)) {
        try {
            fs.rmdirSync(d); // only succeeds when empty (a __pycache__ left behind keeps it: slimming removes those first)
        } catch {
            return;
        }
        d = path.dirname(d);
    }
}
