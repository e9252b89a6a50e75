import type { Decision } from "./decide";
import { fmtInt, formatBytes } from "./decide";
import type { PackageSize } from "./measure";

/**
 * A small fixed-width table for Pulumi's log and the CLI:
 *
 *   packaging: image
 *   package                          unzipped    files
 *   torch                           1.6 GiB     ...
 *   ...
 *   total                           5.4 GiB     ...    (limit 262,144,000 B - headroom 5,242,880 B = 256,901,120 B available)
 *   why: ...
 */
export function formatSizeTable(decision: Decision, packages: PackageSize[], opts: { top?: number; parts?: PackageSize[]; notes?: string[] } = {}): string {
    const top = opts.top ?? 10;
    const shown = packages.slice(0, top);
    const rest = packages.slice(top);
    const rows: [string, string, string][] = shown.map((p) => [p.name, formatBytes(p.bytes), fmtInt(p.files)]);
    if (rest.length > 0) {
        rows.push([
            `(${rest.length} more)`,
            formatBytes(rest.reduce((a, p) => a + p.bytes, 0)),
            fmtInt(rest.reduce((a, p) => a + p.files, 0)),
        ]);
    }
    // Parts beside the layer's packages (the code, the model's layer), each on its own row.
    for (const p of opts.parts ?? []) rows.push([p.name, formatBytes(p.bytes), fmtInt(p.files)]);
    const totalFiles = [...packages, ...(opts.parts ?? [])].reduce((a, p) => a + p.files, 0);
    const w0 = Math.max(7, ...rows.map((r) => r[0].length), "total (code + layers)".length);
    const w1 = Math.max(8, ...rows.map((r) => r[1].length), formatBytes(decision.totalBytes).length);
    const w2 = Math.max(5, ...rows.map((r) => r[2].length), fmtInt(totalFiles).length);
    const line = (a: string, b: string, c: string) => `  ${a.padEnd(w0)}  ${b.padStart(w1)}  ${c.padStart(w2)}`;
    const out = [
        `packaging: ${decision.mode}  (${fmtInt(decision.totalBytes)} of ${fmtInt(decision.availableBytes)} bytes available: ` +
            `limit ${fmtInt(decision.limitBytes)} - headroom ${fmtInt(decision.headroomBytes)}; ${decision.layerCount} layer(s))`,
        line("package", "unzipped", "files"),
        ...rows.map((r) => line(...r)),
        line("total (code + layers)", formatBytes(decision.totalBytes), fmtInt(totalFiles)),
        ...(opts.notes ?? []).map((n) => `  ${n}`),
        ...decision.reasons.map((r) => `  why: ${r}`),
    ];
    return out.join("\n");
}
