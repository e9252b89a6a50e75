/**
 * "What does this package bring with it?": for each installed distribution, its own bytes plus the bytes of every
 * distribution that is installed only because of it (those no longer reachable from the roots once it is taken
 * out of the dependency graph: its dominated set). This is how torch shows up as torch + triton + nvidia-* instead
 * of a dozen separate rows, and it is what the decision's reasons name when a layer is too big.
 * Roots: the requirement names given (the user's requirements file) plus every distribution nothing else requires.
 */
import type { Measurement } from "./measure";
import { normalizeName } from "./requirements";

export interface DependencyWeight {
    name: string;
    /** Own bytes plus the bytes of everything in `brings`. */
    bytes: number;
    ownBytes: number;
    /** Distributions installed only because of this one, largest first. */
    brings: string[];
}

export function dependencyWeights(m: Measurement, requirementNames: string[] = []): DependencyWeight[] {
    const deps = m.dependencies;
    if (!deps) return [];
    const size = new Map(m.packages.map((p) => [p.name, p.bytes]));
    const names = Object.keys(deps);
    const required = new Set(names.flatMap((n) => deps[n]));
    const wanted = new Set(requirementNames.map(normalizeName));
    const roots = names.filter((n) => !required.has(n) || wanted.has(normalizeName(n)));
    const reachable = (without: string): Set<string> => {
        const seen = new Set<string>();
        const stack = roots.filter((r) => r !== without);
        while (stack.length) {
            const n = stack.pop()!;
            if (seen.has(n)) continue;
            seen.add(n);
            for (const d of deps[n] ?? []) if (d !== without && !seen.has(d)) stack.push(d);
        }
        return seen;
    };
    const all = reachable("");
    const out: DependencyWeight[] = names.map((name) => {
        const still = reachable(name);
        const brings = names
            .filter((n) => n !== name && all.has(n) && !still.has(n))
            .sort((a, b) => (size.get(b) ?? 0) - (size.get(a) ?? 0) || (a < b ? -1 : 1));
        const ownBytes = size.get(name) ?? 0;
        return { name, ownBytes, brings, bytes: ownBytes + brings.reduce((a, n) => a + (size.get(n) ?? 0), 0) };
    });
    return out.sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : 1));
}

/** The heaviest few, skipping any already counted inside an earlier one ("torch" makes "triton" redundant). */
export function heaviest(weights: DependencyWeight[], count = 3): DependencyWeight[] {
    const shown: DependencyWeight[] = [];
    const covered = new Set<string>();
    for (const w of weights) {
        if (shown.length >= count) break;
        if (covered.has(w.name)) continue;
        shown.push(w);
        covered.add(w.name);
        w.brings.forEach((b) => covered.add(b));
    }
    return shown;
}
