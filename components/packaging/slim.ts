/**
 * Safe slimming of an installed site directory (a layer's `python/`). Only files that are never imported at run
 * time go; each rule is exercised by the import smoke test in test/packaging-slim.spec.ts (a slimmed tree built for
 * the host's python3.11 x86_64, imported with `python3 -S` so nothing outside the tree can stand in for a
 * removed file). Deliberately NOT removed:
 *  - `*.dist-info`: importlib.metadata reads versions from it (transformers checks its dependencies' versions at
 *    import time), and entry points live there.
 *  - shared libraries are never stripped: `strip` on manylinux wheels' .so files has broken numpy for others.
 *  - C headers (`include/`): torch compiles C++ at run time (torch.compile's inductor) against them.
 *  - `*.pyi` stubs, `*.pxd`, licences: small, and some tools read them.
 */
import * as fs from "fs";
import * as path from "path";

export interface SlimRule {
    id: string;
    description: string;
}

/** The rules, in the order they are reported. Part of the layer cache key: changing one rebuilds layers. */
export const SLIM_RULES: readonly SlimRule[] = [
    {
        id: "pycache",
        description: "__pycache__ directories and *.pyc/*.pyo files: bytecode compiled for the build machine's Python (or shipped stale in a wheel); Python recompiles from the .py in memory when /opt is read-only",
    },
    {
        id: "tests",
        description: "test suites inside packages (directories named tests or test below a top-level package, e.g. scipy/*/tests, sklearn/*/tests), " +
            "except those that code outside test directories imports (numpy.testing imports numpy._core.tests._natype: removing it breaks `from numpy import *`)",
    },
    {
        id: "scripts",
        description: "python/bin: console-script wrappers whose #! line points at the build machine's interpreter; not importable and not on Lambda's PATH",
    },
] as const;

export interface SlimStat {
    rule: string;
    bytes: number;
    files: number;
}

export interface SlimResult {
    removedBytes: number;
    removedFiles: number;
    byRule: SlimStat[];
    /** Test directories kept because code outside test directories imports them (site-relative paths). */
    kept: string[];
}

/** Which rule, if any, removes this path (relative to the site directory; isDir tells a directory from a file). */
export function slimRuleFor(rel: string, isDir: boolean): string | undefined {
    const segs = rel.split("/");
    const name = segs[segs.length - 1];
    if (segs.some((s) => s.endsWith(".dist-info"))) return undefined;
    if (isDir && name === "__pycache__") return "pycache";
    if (!isDir && (name.endsWith(".pyc") || name.endsWith(".pyo"))) return "pycache";
    if (isDir && segs.length >= 2 && (name === "tests" || name === "test")) return "tests";
    if (isDir && segs.length === 1 && name === "bin") return "scripts";
    return undefined;
}

/** Removes what the rules match under `siteDir` and reports what went, by rule (apparent sizes, like measureDir). */
export function slimTree(siteDir: string): SlimResult {
    const stats = new Map<string, SlimStat>(SLIM_RULES.map((r) => [r.id, { rule: r.id, bytes: 0, files: 0 }]));
    const matches: { abs: string; rel: string; rule: string }[] = [];
    const sources: { abs: string; rel: string }[] = [];
    const visit = (abs: string, rel: string) => {
        for (const ent of fs.readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
            const childAbs = path.join(abs, ent.name);
            const childRel = rel ? `${rel}/${ent.name}` : ent.name;
            const isDir = ent.isDirectory(); // a symlink is judged as itself, never followed when deleting
            const rule = slimRuleFor(childRel, isDir);
            if (rule) matches.push({ abs: childAbs, rel: childRel, rule });
            else if (isDir) visit(childAbs, childRel);
            else if (ent.isFile() && ent.name.endsWith(".py")) sources.push({ abs: childAbs, rel: childRel });
        }
    };
    if (fs.existsSync(siteDir)) visit(siteDir, "");
    const imported = importedTestModules(sources, matches.filter((m) => m.rule === "tests").map((m) => m.rel));
    const kept: string[] = [];
    for (const m of matches) {
        if (m.rule === "tests" && imported.has(m.rel)) {
            kept.push(m.rel);
            continue;
        }
        const s = stats.get(m.rule)!;
        const { bytes, files } = sizeOf(m.abs);
        s.bytes += bytes;
        s.files += files;
        fs.rmSync(m.abs, { recursive: true, force: true });
    }
    const byRule = [...stats.values()];
    return {
        removedBytes: byRule.reduce((a, s) => a + s.bytes, 0),
        removedFiles: byRule.reduce((a, s) => a + s.files, 0),
        byRule,
        kept,
    };
}

/**
 * Which candidate test directories (site-relative paths) are imported by code outside the candidates: any dotted
 * name in a source file that equals or starts with the directory's module path (absolute imports, import_module
 * strings), or a relative import that resolves into it. Errs on the side of keeping.
 */
export function importedTestModules(sources: { abs: string; rel: string }[], candidates: string[]): Set<string> {
    const byModule = new Map(candidates.map((c) => [c.replace(/\//g, "."), c]));
    const used = new Set<string>();
    if (byModule.size === 0) return used;
    const consider = (mod: string) => {
        const parts = mod.split(".");
        for (let i = parts.length; i >= 2; i--) {
            const hit = byModule.get(parts.slice(0, i).join("."));
            if (hit) used.add(hit);
        }
    };
    for (const src of sources) {
        const text = fs.readFileSync(src.abs, "latin1");
        if (!/\btests?\b/.test(text)) continue;
        for (const m of text.matchAll(/[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*\.tests?\b(?:\.[A-Za-z_]\w*)*/g)) consider(m[0]);
        const pkg = src.rel.replace(/\.py$/, "").split("/");
        pkg.pop(); // the module's package
        for (const m of text.matchAll(/^\s*from\s+(\.+)([\w.]*)\s+import\s+([\w, ()]+)/gm)) {
            const base = pkg.slice(0, pkg.length - (m[1].length - 1));
            const target = [...base, ...(m[2] ? m[2].split(".") : [])];
            consider(target.join("."));
            for (const name of m[3].replace(/[()]/g, "").split(",")) if (name.trim()) consider([...target, name.trim().split(/\s+/)[0]].join("."));
        }
    }
    return used;
}

function sizeOf(p: string): { bytes: number; files: number } {
    const st = fs.lstatSync(p);
    if (!st.isDirectory()) return { bytes: st.isFile() ? st.size : 0, files: 1 };
    let bytes = 0;
    let files = 0;
    for (const name of fs.readdirSync(p)) {
        const s = sizeOf(path.join(p, name));
        bytes += s.bytes;
        files += s.files;
    }
    return { bytes, files };
}
