/**
 * Measuring what Lambda counts: the sum of the uncompressed sizes of every file in the function code and in every
 * layer ("Function code combined with layers exceeds the maximum allowed size of 262144000 bytes";
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). Not disk blocks: see tree.ts for how
 * sparse files, symlinks and empty directories count.
 *
 * The per-package breakdown is by distribution (what pip installs: "scikit-learn", "torch",
 * "nvidia-cublas-cu12"), read from each `*.dist-info/RECORD`, whose paths are relative to the directory holding the
 * dist-info. A file no RECORD claims (a handler's own code, files a build step added) is grouped under its first
 * path segment below that directory, or below the measured root when there is no dist-info above it.
 */
import * as fs from "fs";
import * as path from "path";
import { MlLambdaError } from "../errors";
import { normalizeName } from "./requirements";
import { walkTree } from "./tree";
import { readZipEntries, readZipEntryData } from "./zip";

export interface PackageSize {
    name: string;
    bytes: number;
    files: number;
}

export interface Measurement {
    unzippedBytes: number;
    files: number;
    /** By distribution, largest first (ties by name). */
    packages: PackageSize[];
    /**
     * Installed distributions' dependencies on each other (from METADATA Requires-Dist, extras left out), by
     * distribution name. Present when the tree holds dist-info directories; used by dependencyWeights().
     */
    dependencies?: Record<string, string[]>;
}

/** Measures a directory as a zip of it would record it. */
export function measureDir(dir: string): Measurement {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
        throw new MlLambdaError("dir", dir, "the directory to measure must exist", "pass an existing directory");
    }
    const { files } = walkTree(dir);
    return summarize(
        files.map((f) => ({ path: f.rel, size: f.size })),
        (rel) => fs.readFileSync(path.join(dir, ...rel.split("/")), "utf8"),
    );
}

/** Measures a zip from its central directory (zip64 aware): the uncompressed sizes Lambda adds up. */
export function measureZip(zipPath: string): Measurement {
    if (!fs.existsSync(zipPath) || !fs.statSync(zipPath).isFile()) {
        throw new MlLambdaError("zip", zipPath, "the zip file to measure must exist", "pass an existing .zip file");
    }
    const entries = readZipEntries(zipPath).filter((e) => !e.isDirectory);
    const byName = new Map(entries.map((e) => [e.name, e]));
    return summarize(
        entries.map((e) => ({ path: e.name, size: e.size })),
        (rel) => readZipEntryData(zipPath, byName.get(rel)!).toString("utf8"),
    );
}

/** The pure core shared by measureDir and measureZip. */
export function summarize(files: { path: string; size: number }[], readText: (rel: string) => string): Measurement {
    const owner = new Map<string, string>();
    const siteRoots = new Set<string>();
    const distInfoDirs: { dir: string; parent: string; distName: string }[] = [];
    const requires = new Map<string, DistRequirement[]>();
    for (const f of files) {
        const m = /^(?:(.*)\/)?([^/]+\.dist-info)\/RECORD$/.exec(f.path);
        if (!m) continue;
        const parent = m[1] ?? "";
        const dir = parent ? `${parent}/${m[2]}` : m[2];
        const { name: distName, requires: req } = distributionMetadata(dir, files, readText);
        requires.set(distName, req);
        distInfoDirs.push({ dir, parent, distName });
        siteRoots.add(parent);
        for (const recPath of parseRecord(readText(f.path))) {
            const resolved = normalizeRel(parent ? `${parent}/${recPath}` : recPath);
            if (resolved !== undefined && !owner.has(resolved)) owner.set(resolved, distName);
        }
    }
    const roots = [...siteRoots].sort((a, b) => b.length - a.length);
    const totals = new Map<string, PackageSize>();
    let unzippedBytes = 0;
    for (const f of files) {
        unzippedBytes += f.size;
        let name = owner.get(f.path);
        if (name === undefined) {
            // Bytecode compiled after install (packaging/bytecode.ts) is no RECORD's: it belongs to its source's owner.
            const pyc = /^(?:(.*)\/)?__pycache__\/([^/]+?)\.[^./]+\.pyc$/.exec(f.path);
            if (pyc) name = owner.get(pyc[1] ? `${pyc[1]}/${pyc[2]}.py` : `${pyc[2]}.py`);
        }
        if (name === undefined) {
            const di = distInfoDirs.find((d) => f.path.startsWith(`${d.dir}/`));
            name = di ? di.distName : groupOf(f.path, roots);
        }
        const t = totals.get(name) ?? { name, bytes: 0, files: 0 };
        t.bytes += f.size;
        t.files += 1;
        totals.set(name, t);
    }
    const packages = [...totals.values()].sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const measurement: Measurement = { unzippedBytes, files: files.length, packages };
    if (requires.size > 0) measurement.dependencies = dependencyGraph(requires);
    return measurement;
}

function groupOf(rel: string, siteRoots: string[]): string {
    for (const root of siteRoots) {
        if (root === "" || rel.startsWith(`${root}/`)) {
            const below = root === "" ? rel : rel.slice(root.length + 1);
            return below.split("/")[0];
        }
    }
    return rel.split("/")[0];
}

interface DistRequirement {
    name: string;
    /** Extras this requirement asks for: `cuda-toolkit[cublas,cudart]`. */
    extras: string[];
    /** The extra whose marker guards this requirement (`; extra == "cublas"`), if any. */
    forExtra?: string;
}

/**
 * The distribution's display name from METADATA's `Name:` header (else from the dist-info directory name), and its
 * Requires-Dist entries (normalised names, the extras they ask for, the extra that guards them).
 */
function distributionMetadata(distInfoDir: string, files: { path: string }[], readText: (rel: string) => string): { name: string; requires: DistRequirement[] } {
    const metadata = `${distInfoDir}/METADATA`;
    let name = distInfoDir.split("/").pop()!.replace(/\.dist-info$/, "").replace(/-[^-]+$/, "");
    const requires: DistRequirement[] = [];
    if (files.some((f) => f.path === metadata)) {
        const headers = readText(metadata).split(/\r?\n\r?\n/)[0];
        const m = /^Name:\s*(\S+)\s*$/m.exec(headers);
        if (m) name = m[1];
        for (const r of headers.matchAll(/^Requires-Dist:\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?(.*)$/gm)) {
            const markers = r[3].includes(";") ? r[3].slice(r[3].indexOf(";")) : "";
            const extra = /\bextra\s*==\s*['"]([^'"]+)['"]/.exec(markers);
            requires.push({
                name: normalizeName(r[1]),
                extras: (r[2] ?? "").split(",").map((e) => normalizeName(e.trim())).filter(Boolean),
                forExtra: extra ? normalizeName(extra[1]) : undefined,
            });
        }
    }
    return { name, requires };
}

/**
 * Installed-to-installed dependency edges. A requirement guarded by an extra counts only when something asks for
 * that extra, and then as a dependency of the one asking (torch -> cuda-toolkit[cublas] -> nvidia-cublas makes
 * nvidia-cublas torch's), so optional extras nobody installed for never create false edges.
 */
function dependencyGraph(requires: Map<string, DistRequirement[]>): Record<string, string[]> {
    const byNorm = new Map([...requires.keys()].map((n) => [normalizeName(n), n]));
    const deps: Record<string, string[]> = {};
    for (const [name, reqs] of [...requires.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const out = new Set<string>();
        for (const r of reqs) {
            if (r.forExtra !== undefined) continue;
            const target = byNorm.get(r.name);
            if (target === undefined) continue;
            out.add(target);
            for (const sub of requires.get(target) ?? []) {
                if (sub.forExtra !== undefined && r.extras.includes(sub.forExtra)) {
                    const t = byNorm.get(sub.name);
                    if (t !== undefined) out.add(t);
                }
            }
        }
        out.delete(name);
        deps[name] = [...out].sort();
    }
    return deps;
}

/** Paths from a RECORD file (CSV: path,hash,size; the path is quoted when it contains a comma or a quote). */
export function parseRecord(text: string): string[] {
    const out: string[] = [];
    for (const line of text.split(/\r?\n/)) {
        if (!line) continue;
        if (line.startsWith('"')) {
            let i = 1;
            let value = "";
            while (i < line.length) {
                if (line[i] === '"') {
                    if (line[i + 1] === '"') {
                        value += '"';
                        i += 2;
                        continue;
                    }
                    break;
                }
                value += line[i++];
            }
            out.push(value);
        } else {
            out.push(line.split(",")[0]);
        }
    }
    return out;
}

/** Resolves "a/b/../c" to "a/c"; undefined when the path leaves the measured root (RECORD's ../../bin scripts). */
function normalizeRel(p: string): string | undefined {
    const parts: string[] = [];
    for (const seg of p.split("/")) {
        if (seg === "" || seg === ".") continue;
        if (seg === "..") {
            if (parts.length === 0) return undefined;
            parts.pop();
        } else parts.push(seg);
    }
    return parts.join("/");
}
