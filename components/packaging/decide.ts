/**
 * Zip or image: a pure function of sizes, layer count, missing wheels and the user's choice.
 *
 * The zip path works when, all at once (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html):
 *  - code + own layers + external layers, unzipped, is at most the limit (262,144,000 bytes) minus the headroom;
 *  - the function has at most 5 layers;
 *  - every dependency has a binary wheel for the target (else it cannot be installed into a layer off-Lambda).
 * Otherwise "auto" chooses the container image, and a forced "zip" is an MlLambdaError that names what breaks.
 * "image" forced is always image. Exactly `limit - headroom` bytes fits; one byte more does not.
 */
import type { PackagingMode, PackagingPath } from "../args";
import { MlLambdaError } from "../errors";
import { DEFAULT_HEADROOM_BYTES, MAX_LAYERS, UNZIPPED_LIMIT_BYTES } from "../limits";
import { validateHeadroom, validatePackaging } from "../validate";
import type { DependencyWeight } from "./deps";
import { heaviest } from "./deps";
import type { PackageSize } from "./measure";

export interface MissingWheel {
    name: string;
    detail: string;
}

export interface DecideInput {
    /** Unzipped bytes of the function code. */
    codeBytes: number;
    /** Unzipped bytes of each layer this component builds. */
    layerBytes: number[];
    /** Declared unzipped bytes of each external layer (ARN) the user attaches. */
    externalLayerBytes: number[];
    /** Kept free below the limit; @default DEFAULT_HEADROOM_BYTES (5 MiB: pip resolutions drift between preview and up). */
    headroomBytes?: number;
    forced: PackagingMode;
    missingWheels?: MissingWheel[];
    /** @default UNZIPPED_LIMIT_BYTES */
    limitBytes?: number;
    /** Optional per-package breakdown (largest first): names the largest packages in the reasons when over. */
    packages?: PackageSize[];
    /**
     * Optional dependency weights (dependencyWeights()): when over, the reasons name the packages that bring the
     * most bytes with them ("torch 5.0 GiB with what it pulls in: triton, nvidia-cudnn-cu13, ..."), which is
     * better than the largest single distributions. Takes precedence over `packages`.
     */
    weights?: DependencyWeight[];
}

export interface Decision {
    mode: PackagingPath;
    totalBytes: number;
    limitBytes: number;
    headroomBytes: number;
    /** limitBytes - headroomBytes: the most code + layers may weigh on the zip path. */
    availableBytes: number;
    layerCount: number;
    /** Why, in words: the blocking problems when image, the margin when zip. */
    reasons: string[];
}

export function decide(input: DecideInput): Decision {
    const limitBytes = input.limitBytes ?? UNZIPPED_LIMIT_BYTES;
    const headroomBytes = input.headroomBytes ?? DEFAULT_HEADROOM_BYTES;
    checkBytes("codeBytes", input.codeBytes);
    input.layerBytes.forEach((b, i) => checkBytes(`layerBytes[${i}]`, b));
    input.externalLayerBytes.forEach((b, i) => checkBytes(`externalLayers[${i}].bytes`, b));
    checkBytes("limitBytes", limitBytes);
    // The gate's own rules: decide() is also called directly (the CLI, tests), not only after normalizeArgs.
    validateHeadroom(headroomBytes, limitBytes);
    validatePackaging(input.forced);
    const totalBytes = input.codeBytes + sum(input.layerBytes) + sum(input.externalLayerBytes);
    const availableBytes = limitBytes - headroomBytes;
    const layerCount = input.layerBytes.length + input.externalLayerBytes.length;
    const base = { totalBytes, limitBytes, headroomBytes, availableBytes, layerCount };

    const problems: string[] = [];
    const fixes: string[] = [];
    const missing = input.missingWheels ?? [];
    if (missing.length > 0) {
        problems.push(
            `no binary wheel for the target: ${missing.map((m) => `${m.name} (${m.detail})`).join("; ")}`,
        );
        fixes.push(`pin versions of ${missing.map((m) => m.name).join(", ")} that publish wheels for this runtime and architecture, or use packaging "image"`);
    }
    if (totalBytes > availableBytes) {
        const over = totalBytes - availableBytes;
        const heavy = input.weights && input.weights.length ? heaviest(input.weights, 3) : [];
        const culprits = heavy.length
            ? `; heaviest: ${heavy.map((w) => `${w.name} ${formatBytes(w.bytes)}${w.brings.length ? ` with what it pulls in (${w.brings.slice(0, 3).join(", ")}${w.brings.length > 3 ? `, +${w.brings.length - 3} more` : ""})` : ""}`).join("; ")}`
            : (input.packages ?? []).length
              ? `; largest: ${(input.packages ?? []).slice(0, 3).map((p) => `${p.name} ${formatBytes(p.bytes)}`).join(", ")}`
              : "";
        // Declared external layers can be the weight; name them beside the packages we built.
        const external = sum(input.externalLayerBytes);
        const parts = `code ${formatBytes(input.codeBytes)} + own layer(s) ${formatBytes(sum(input.layerBytes))}` +
            (external > 0 ? ` + external layer(s) ${formatBytes(external)}` : "");
        problems.push(
            `code + layers unzipped = ${fmtInt(totalBytes)} bytes (${formatBytes(totalBytes)}: ${parts}), ${fmtInt(over)} bytes over the ` +
                `${fmtInt(availableBytes)} available (limit ${fmtInt(limitBytes)} - headroom ${fmtInt(headroomBytes)})` + culprits,
        );
        fixes.push(`remove ${formatBytes(over)} of dependencies (see the breakdown), or use packaging "image"`);
    }
    if (layerCount > MAX_LAYERS) {
        problems.push(`${layerCount} layers, Lambda allows at most ${MAX_LAYERS} per function`);
        fixes.push(`attach at most ${MAX_LAYERS} layers, or use packaging "image"`);
    }

    if (input.forced === "image") {
        return { mode: "image", ...base, reasons: ['packaging forced to "image"', ...problems.map((p) => `(would not fit zip anyway) ${p}`)] };
    }
    if (problems.length === 0) {
        const margin = availableBytes - totalBytes;
        return {
            mode: "zip",
            ...base,
            reasons: [
                `${input.forced === "zip" ? 'packaging forced to "zip"; ' : ""}code + layers unzipped = ${fmtInt(totalBytes)} bytes (${formatBytes(totalBytes)}), ` +
                    `${fmtInt(margin)} bytes free of the ${fmtInt(availableBytes)} available (limit ${fmtInt(limitBytes)} - headroom ${fmtInt(headroomBytes)}); ${layerCount} of ${MAX_LAYERS} layers`,
            ],
        };
    }
    if (input.forced === "zip") {
        throw new MlLambdaError(
            "packaging",
            "zip",
            `the zip path cannot work: ${problems.join("; ")}`,
            fixes.join("; "),
        );
    }
    return { mode: "image", ...base, reasons: problems };
}

export function checkBytes(setting: string, value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
        throw new MlLambdaError(setting, value, "a byte count must be a non-negative integer", "pass the unzipped size in bytes");
    }
}

export function sum(xs: number[]): number {
    return xs.reduce((a, b) => a + b, 0);
}

export function fmtInt(n: number): string {
    return n.toLocaleString("en-US");
}

/** Binary units, since Lambda's limit is exactly 250 MiB. */
export function formatBytes(n: number): string {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = n;
    let u = 0;
    while (Math.abs(v) >= 1024 && u < units.length - 1) {
        v /= 1024;
        u++;
    }
    return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}
