/**
 * The image path's size report and limit, pure: what a built image weighs (uncompressed, per layer, as the engine
 * reports it) against Lambda's container image limit, and never a zip-limit figure. The measurement itself is
 * components/docker (a build through the Docker Engine API); this module only judges and formats it.
 */
import { MlLambdaError } from "../errors";
import { IMAGE_LIMIT_BYTES } from "../limits";
import { fmtInt, formatBytes } from "./decide";

export interface ImageLayer {
    /** The instruction that made the layer (the engine's history "CreatedBy"), or "(base image)". */
    createdBy: string;
    bytes: number;
}

export interface ImageMeasurement {
    /** Uncompressed size of all layers, as `docker image inspect` reports it. */
    uncompressedBytes: number;
    /** The layers that hold bytes, base first. */
    layers: ImageLayer[];
    /** Every layer of the image (empty ones included), as its root file system lists them. */
    layerCount?: number;
    imageId: string;
    /** How it was measured, e.g. "Docker 20.10.24, BuildKit". */
    measuredWith: string;
    /** The build network the engine needed ("host" when it has no bridge network), for docker.Image's build.network. */
    network?: string;
}

/** The image part of the size report: the measurement when there was one, else why not. */
export interface ImageSizeReport {
    limitBytes: number;
    measured: boolean;
    uncompressedBytes?: number;
    availableBytes?: number;
    layerCount?: number;
    /** The largest layers first (at most 10). */
    largestLayers?: ImageLayer[];
    measuredWith?: string;
    /** When not measured: the reason (no engine, preview). */
    note?: string;
}

export function imageSizeReport(m: ImageMeasurement | undefined, note = "measured at `pulumi up` when a Docker engine answers"): ImageSizeReport {
    if (!m) return { limitBytes: IMAGE_LIMIT_BYTES, measured: false, note };
    return {
        limitBytes: IMAGE_LIMIT_BYTES,
        measured: true,
        uncompressedBytes: m.uncompressedBytes,
        availableBytes: IMAGE_LIMIT_BYTES - m.uncompressedBytes,
        layerCount: m.layerCount ?? m.layers.length,
        largestLayers: [...m.layers].sort((a, b) => b.bytes - a.bytes).slice(0, 10),
        measuredWith: m.measuredWith,
    };
}

/** Refuses an image over Lambda's limit before anything is pushed, naming the layers that weigh most. */
export function checkImageSize(m: ImageMeasurement, limitBytes: number = IMAGE_LIMIT_BYTES): void {
    if (m.uncompressedBytes <= limitBytes) return;
    const heavy = [...m.layers].sort((a, b) => b.bytes - a.bytes).slice(0, 3)
        .map((l) => `${formatBytes(l.bytes)} ${l.createdBy.slice(0, 80)}`).join("; ");
    throw new MlLambdaError(
        "packaging",
        "image",
        `the built image is ${fmtInt(m.uncompressedBytes)} bytes uncompressed in ${m.layerCount ?? m.layers.length} layers, over Lambda's ` +
            `${fmtInt(limitBytes)}-byte container image limit (${fmtInt(m.uncompressedBytes - limitBytes)} over; largest layers: ${heavy})`,
        "shrink the dependencies (the onnx backend needs no torch; drop packages the function does not import) or the model, then deploy again",
    );
}

/** The log lines for the image path (the zip path keeps formatSizeTable): image bytes against the image limit. */
export function formatImageReport(r: ImageSizeReport, reasons: string[]): string {
    const out: string[] = [];
    if (!r.measured) {
        out.push(`packaging: image  (image size ${r.note}; Lambda's limit: ${fmtInt(r.limitBytes)} bytes uncompressed)`);
    } else {
        out.push(`packaging: image  (${fmtInt(r.uncompressedBytes!)} of ${fmtInt(r.limitBytes)} bytes: the image uncompressed, ${r.layerCount} layers)`);
        const w = Math.max(...r.largestLayers!.map((l) => formatBytes(l.bytes).length));
        for (const l of r.largestLayers!.slice(0, 6)) out.push(`  ${formatBytes(l.bytes).padStart(w)}  ${l.createdBy.slice(0, 100)}`);
    }
    for (const reason of reasons) out.push(`  why: ${reason}`);
    return out.join("\n");
}
