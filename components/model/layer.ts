/**
 * The model as a Lambda layer of its own: the prepared model's files (PreparedModel.stagedDir: the same files as
 * the S3 archive) under ml/model/ in a deterministic zip, so Lambda unpacks them read-only at /opt/ml/model
 * (LAYER_MODEL_DIR) and nothing is fetched at init. Content-addressed: cached beside the model archive under
 * <cache>/models/<content key>.layer.zip, so an unchanged model is the same zip (the same sourceCodeHash: no new
 * layer version) whatever the code does.
 */
import * as fs from "fs";
import * as path from "path";
import { LAYER_MODEL_DIR } from "../assets";
import { zipDirectory } from "../packaging/archive";
import { measureDir } from "../packaging/measure";
import type { PreparedModel } from "./index";

/** The zip's entries live under this prefix: /opt + it = LAYER_MODEL_DIR. */
export const MODEL_LAYER_PREFIX = LAYER_MODEL_DIR.replace(/^\/opt\//, "");

/** Bump when the layer's layout changes; part of the cache file's name. */
const MODEL_LAYER_FORMAT = 1;

export interface ModelLayer {
    zipPath: string;
    zipBytes: number;
    /** base64 sha256 of the zip (Lambda's CodeSha256, Pulumi's sourceCodeHash). */
    zipSha256: string;
    /** What Lambda counts: the model's files, uncompressed. */
    unzippedBytes: number;
    files: number;
}

/** Unzipped bytes of the model as a layer, without zipping it (what the delivery decision needs). */
export function modelLayerBytes(model: Pick<PreparedModel, "stagedDir">): number {
    return measureDir(model.stagedDir).unzippedBytes;
}

/** The model's layer zip, built once per model content and reused. */
export function modelLayer(model: Pick<PreparedModel, "stagedDir">, log: (line: string) => void = () => undefined): ModelLayer {
    const base = path.join(path.dirname(model.stagedDir), `${path.basename(model.stagedDir, ".dir")}.layer${MODEL_LAYER_FORMAT}`);
    const zipPath = `${base}.zip`;
    const record = `${base}.json`;
    try {
        const known = JSON.parse(fs.readFileSync(record, "utf8")) as ModelLayer;
        if (known.zipPath === zipPath && fs.existsSync(zipPath) && fs.statSync(zipPath).size === known.zipBytes) return known;
    } catch {
        // not built yet (or an unreadable record): build it
    }
    const started = Date.now();
    const z = zipDirectory(model.stagedDir, zipPath, { prefix: MODEL_LAYER_PREFIX });
    const built: ModelLayer = { zipPath, zipBytes: z.bytes, zipSha256: z.sha256, unzippedBytes: z.measurement.unzippedBytes, files: z.measurement.files };
    const tmp = `${record}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(built, null, 1));
    fs.renameSync(tmp, record);
    log(`ml-lambda: model layer (${LAYER_MODEL_DIR}): ${built.unzippedBytes.toLocaleString("en-US")} bytes unzipped in ${built.files} files, ` +
        `zip ${built.zipBytes.toLocaleString("en-US")} bytes, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return built;
}
