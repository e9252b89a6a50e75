import * as path from "path";
import type { ModelSource } from "../args";
import { runPythonJson } from "../python";

/** The default model: all-MiniLM-L6-v2, pinned to one Hub commit so every deploy ships the same bytes. */
export const DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2";
export const DEFAULT_MODEL_REVISION = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41";

export interface PreparedModel {
    /** Name the function reports (`model` in responses). */
    name: string;
    /** How it was found: a local path, the local Hugging Face cache, or a fresh download. */
    source: "path" | "hub-cache" | "hub-download";
    sourceDir: string;
    /** Plain-file copy of the selected files, for the image build context. */
    stagedDir: string;
    /** Deterministic .tar.gz with the files at its root: the zip path's S3 object. */
    archive: string;
    /** Hex sha256 of the archive: in the S3 key, and checked by the function before extracting. */
    sha256: string;
    bytes: number;
    unpackedBytes: number;
    files: string[];
}

export function isHubModel(m: ModelSource): m is { id: string; revision: string } {
    return (m as { id?: string }).id !== undefined;
}

/** Resolves and archives the model (cached by content). Synchronous: the graph needs its sha256. */
export function prepareModel(model: ModelSource, cacheDir: string): PreparedModel {
    const script = path.join(__dirname, "prepare_model.py");
    const args = ["--cache", cacheDir];
    if (isHubModel(model)) args.push("--hub-id", model.id, "--revision", model.revision);
    else {
        args.push("--path", path.resolve(model.path));
        if (model.name) args.push("--name", model.name);
    }
    return runPythonJson<PreparedModel>(script, args, "model preparation");
}

/** Content-addressed S3 key: a changed model is a new key, an old one is never overwritten. */
export function modelObjectKey(m: Pick<PreparedModel, "name" | "sha256">): string {
    const safe = m.name.replace(/[^A-Za-z0-9._-]/g, "-");
    return `models/${safe}/${m.sha256}.tar.gz`;
}
