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
        description: "test suites inside packages (directories named tests or test below a top-level package, e.g. scipy/*/tests, sklearn/*/tests): only the packages' own test runners import them",
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
    const visit = (abs: string, rel: string) => {
        for (const ent of fs.readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
            const childAbs = path.join(abs, ent.name);
            const childRel = rel ? `${rel}/${ent.name}` : ent.name;
            const isDir = ent.isDirectory(); // a symlink is judged as itself, never followed when deleting
            const rule = slimRuleFor(childRel, isDir);
            if (rule) {
                const s = stats.get(rule)!;
                const { bytes, files } = sizeOf(childAbs);
                s.bytes += bytes;
                s.files += files;
                fs.rmSync(childAbs, { recursive: true, force: true });
            } else if (isDir) {
                visit(childAbs, childRel);
            }
        }
    };
    if (fs.existsSync(siteDir)) visit(siteDir, "");
    const byRule = [...stats.values()];
    return {
        removedBytes: byRule.reduce((a, s) => a + s.bytes, 0),
        removedFiles: byRule.reduce((a, s) => a + s.files, 0),
        byRule,
    };
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
