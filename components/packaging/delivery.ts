/**
 * Zip path: how the model reaches the function, and whether the zips carry bytecode. A pure function of measured
 * bytes, the layer count and the user's choices (no guesses: every size is what Lambda will count).
 *
 * The options, fastest first, as the faithful run measured them on the component's own builds (bench/levers.ts,
 * `npm run bench:levers`: time to first response of a fresh environment, 1 CPU, the dev stack's onnx build):
 *   1. the model in its own layer (unpacked at /opt/ml/model, nothing fetched at init) + bytecode in the zips;
 *   2. the model in its own layer, no bytecode (every cold start compiles what it imports: /opt is read-only);
 *   3. the model from S3 (an uncompressed archive fetched and unpacked into /tmp at init) + bytecode;
 *   4. the model from S3, no bytecode.
 * The first that fits is taken: code + own layers + external layers (+ the model layer) unzipped at most the limit
 * minus the headroom, and at most 5 layers. "layer" / "s3" keep only the options of that kind (a forced "layer"
 * that cannot fit is an error naming the bytes over); bytecode off (or no interpreter for the runtime) keeps only the
 * options without it. The zip path itself (decide.ts) only needs option 4 to fit, which it checked first.
 */
import type { ModelDelivery } from "../args";
import { LAYER_MODEL_DIR } from "../assets";
import { MlLambdaError } from "../errors";
import { DEFAULT_HEADROOM_BYTES, MAX_LAYERS, UNZIPPED_LIMIT_BYTES } from "../limits";
import { validateModelDelivery } from "../validate";
import { checkBytes, fmtInt, formatBytes, sum } from "./decide";

/** Where the model went: a layer of its own, or the model bucket (fetched at init). */
export type ModelPlacement = "layer" | "s3";

export interface DeliveryOption {
    model: ModelPlacement;
    bytecode: boolean;
    /** For the reasons and the size report, e.g. "model in a layer + bytecode". */
    label: string;
    /** Median time to first response measured for it (see FAST_START_MEASUREMENT). */
    measuredMs: number;
}

/** Where the figures below come from (bench/results/levers.md). */
export const FAST_START_MEASUREMENT =
    "faithful run of the dev stack (onnx, 1,769 MB) on 1 CPU, median of 5 fresh starts, npm run bench:levers 2026-11-30";

/**
 * Fastest first. The figures are reported with the choice; the order is what the measurements say (the seed-style
 * handler took 5,780 ms in the same run).
 */
export const DELIVERY_OPTIONS: readonly DeliveryOption[] = [
    { model: "layer", bytecode: true, label: "model in a layer + bytecode", measuredMs: 360 },
    { model: "layer", bytecode: false, label: "model in a layer, no bytecode", measuredMs: 580 },
    { model: "s3", bytecode: true, label: "model from S3 + bytecode", measuredMs: 1421 },
    { model: "s3", bytecode: false, label: "model from S3, no bytecode", measuredMs: 1630 },
];

export interface DeliveryInput {
    /** Unzipped bytes of the function code without bytecode. */
    codeBytes: number;
    /** Unzipped bytes of the code with its bytecode; undefined when none can be built. */
    codeWithBytecodeBytes?: number;
    /** Unzipped bytes of the dependency layer without bytecode. */
    layerBytes: number;
    /** Unzipped bytes of the dependency layer with its bytecode; undefined when none can be built. */
    layerWithBytecodeBytes?: number;
    externalLayerBytes: number[];
    /** Unzipped bytes of the model as a layer (its files, what Lambda counts). */
    modelBytes: number;
    forced: ModelDelivery;
    /** Why there is no bytecode option (turned off, or no interpreter for the runtime); undefined when there is. */
    noBytecode?: string;
    headroomBytes?: number;
    limitBytes?: number;
}

export interface DeliveryCandidate extends DeliveryOption {
    totalBytes: number;
    layerCount: number;
    fits: boolean;
    /** Why it was not taken (over by N bytes, too many layers, not allowed by a setting). */
    why?: string;
}

export interface DeliveryDecision {
    model: ModelPlacement;
    bytecode: boolean;
    label: string;
    totalBytes: number;
    layerCount: number;
    availableBytes: number;
    /** The choice and why the faster options were not taken. */
    reasons: string[];
    /** Every option, fastest first, with its bytes and whether it fits. */
    candidates: DeliveryCandidate[];
}

export function chooseDelivery(input: DeliveryInput): DeliveryDecision {
    const limitBytes = input.limitBytes ?? UNZIPPED_LIMIT_BYTES;
    const headroomBytes = input.headroomBytes ?? DEFAULT_HEADROOM_BYTES;
    validateModelDelivery(input.forced);
    for (const [k, v] of Object.entries({ codeBytes: input.codeBytes, layerBytes: input.layerBytes, modelBytes: input.modelBytes, codeWithBytecodeBytes: input.codeWithBytecodeBytes ?? 0, layerWithBytecodeBytes: input.layerWithBytecodeBytes ?? 0 })) {
        checkBytes(k, v);
    }
    const availableBytes = limitBytes - headroomBytes;
    const external = sum(input.externalLayerBytes);
    const bytecodeAvailable = input.noBytecode === undefined && input.codeWithBytecodeBytes !== undefined && input.layerWithBytecodeBytes !== undefined;

    const candidates: DeliveryCandidate[] = DELIVERY_OPTIONS.map((o) => {
        const code = o.bytecode ? input.codeWithBytecodeBytes ?? input.codeBytes : input.codeBytes;
        const layer = o.bytecode ? input.layerWithBytecodeBytes ?? input.layerBytes : input.layerBytes;
        const totalBytes = code + layer + external + (o.model === "layer" ? input.modelBytes : 0);
        const layerCount = 1 + input.externalLayerBytes.length + (o.model === "layer" ? 1 : 0);
        let why: string | undefined;
        if (o.bytecode && !bytecodeAvailable) why = input.noBytecode ?? "no bytecode could be built";
        else if (input.forced !== "auto" && o.model !== input.forced) why = `modelDelivery is "${input.forced}"`;
        else if (totalBytes > availableBytes) {
            why = `code + layers${o.model === "layer" ? " + model" : ""} = ${fmtInt(totalBytes)} bytes, ${fmtInt(totalBytes - availableBytes)} over the ${fmtInt(availableBytes)} available`;
        } else if (layerCount > MAX_LAYERS) why = `${layerCount} layers, Lambda allows ${MAX_LAYERS}`;
        return { ...o, totalBytes, layerCount, fits: why === undefined, ...(why ? { why } : {}) };
    });
    const chosen = candidates.find((c) => c.fits);
    if (!chosen) {
        // Only a forced "layer" gets here: option 4 (S3, no bytecode) is the zip path itself, checked before.
        const layerOnes = candidates.filter((c) => c.model === "layer");
        const best = layerOnes.reduce((a, b) => (b.totalBytes < a.totalBytes ? b : a));
        const overBytes = best.totalBytes - availableBytes;
        const problem = overBytes > 0
            ? `the model (${fmtInt(input.modelBytes)} bytes unzipped) does not fit beside code + layers: ${fmtInt(best.totalBytes)} bytes with it, ` +
              `${fmtInt(overBytes)} over the ${fmtInt(availableBytes)} available (limit ${fmtInt(limitBytes)} - headroom ${fmtInt(headroomBytes)})`
            : `${best.layerCount} layers with the model's, Lambda allows ${MAX_LAYERS} per function`;
        throw new MlLambdaError("modelDelivery", input.forced, problem,
            overBytes > 0
                ? `use modelDelivery "auto" or "s3" (the model is fetched from S3 at init), a smaller model (backend "onnx-int8"), or remove ${formatBytes(overBytes)} of dependencies`
                : `use modelDelivery "auto" or "s3", or attach fewer external layers`);
    }
    const faster = candidates.slice(0, candidates.indexOf(chosen));
    const where = chosen.model === "layer" ? `in its own layer at ${LAYER_MODEL_DIR} (nothing fetched at init)` : "from the model bucket, fetched into /tmp at init";
    const reasons = [
        `model (${fmtInt(input.modelBytes)} bytes unzipped) ${where}, ${chosen.bytecode ? "with" : "without"} bytecode: ` +
            `${chosen.label}, ${fmtInt(chosen.measuredMs)} ms to first response as measured (${FAST_START_MEASUREMENT}; ` +
            `slowest option ${fmtInt(DELIVERY_OPTIONS[DELIVERY_OPTIONS.length - 1].measuredMs)} ms); ` +
            `code + layers${chosen.model === "layer" ? " + model" : ""} = ${fmtInt(chosen.totalBytes)} bytes, ${fmtInt(availableBytes - chosen.totalBytes)} free`,
        ...faster.map((c) => `not "${c.label}" (${fmtInt(c.measuredMs)} ms): ${c.why}`),
    ];
    return {
        model: chosen.model,
        bytecode: chosen.bytecode,
        label: chosen.label,
        totalBytes: chosen.totalBytes,
        layerCount: chosen.layerCount,
        availableBytes,
        reasons,
        candidates,
    };
}
