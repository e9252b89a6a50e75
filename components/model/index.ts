import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { Backend, ModelSource } from "../args";
import { bundledPython } from "../assets";
import { MlLambdaError } from "../errors";
import { hostPython, runPythonJson } from "../python";
import { ensureVenv } from "../venv";

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
    /** The backend the artifact was prepared for: the source files (torch), or an ONNX export of them. */
    backend: Backend;
    /** onnx / onnx-int8 only: how the export was made (or found in the cache) and its measured parity. */
    export: OnnxExport | null;
}

export interface OnnxExport {
    /** The Python that ran torch.onnx.export (ML_LAMBDA_EXPORT_PYTHON, or the managed export environment). */
    python: string;
    via: "ML_LAMBDA_EXPORT_PYTHON" | "managed";
    /** Cache key: source files, backend, opset, the export Python's package versions, the export script. */
    key: string;
    packages: Record<string, string>;
    cached: boolean;
    /** The export run by the function's own backend vs sentence-transformers on torch, on a fixed corpus. */
    parity: { sentences: number; cosine_min: number; cosine_mean: number; floor: number };
    seconds: number;
}

export function isHubModel(m: ModelSource): m is { id: string; revision: string } {
    return (m as { id?: string }).id !== undefined;
}

export interface PrepareOptions {
    /** Requirements of the managed export environment. @default the package's python/requirements-export.txt */
    exportRequirements?: string;
    /** Progress lines of the environment setup. @default write to stderr */
    log?: (line: string) => void;
}

/**
 * Resolves and archives the model (cached by content). Synchronous: the graph needs its sha256.
 * For the onnx backends the artifact is an ONNX export (model.onnx + tokenizer + configs), made at build time with
 * torch in an export Python (ML_LAMBDA_EXPORT_PYTHON, or an environment created under the cache from
 * python/requirements-export.txt) and parity-checked with the function's own backend: prepare_model.py (the host
 * side) runs export_onnx.py (the export) in that Python.
 */
export function prepareModel(model: ModelSource, cacheDir: string, backend: Backend = "torch", opts: PrepareOptions = {}): PreparedModel {
    const script = path.join(__dirname, "prepare_model.py");
    const args = ["--cache", cacheDir, "--backend", backend];
    if (backend !== "torch") {
        args.push("--function-src", bundledPython().handlerDir);
        if (!process.env.ML_LAMBDA_EXPORT_PYTHON) args.push("--export-python", managedExportPython(cacheDir, opts));
    }
    if (isHubModel(model)) args.push("--hub-id", model.id, "--revision", model.revision);
    else {
        args.push("--path", path.resolve(model.path));
        if (model.name) args.push("--name", model.name);
    }
    return runPythonJson<PreparedModel>(script, args, "model preparation");
}

/**
 * The export environment: a virtualenv with the export requirements, created once per requirements file and host
 * Python version (a venv belongs to the interpreter it was made from), under <cache>/export-venv/.
 */
function managedExportPython(cacheDir: string, opts: PrepareOptions): string {
    const requirements = opts.exportRequirements ?? path.join(bundledPython().root, "requirements-export.txt");
    if (!fs.existsSync(requirements)) {
        throw new MlLambdaError("ML_LAMBDA_EXPORT_PYTHON", undefined,
            `the ONNX export needs a Python with torch, transformers, sentence-transformers, onnx and onnxruntime, and the requirements file to create one is missing (${requirements})`,
            "set ML_LAMBDA_EXPORT_PYTHON to such a Python");
    }
    const version = spawnSync(hostPython(), ["-c", "import sys; print(sys.version)"], { encoding: "utf8" }).stdout ?? "";
    const key = crypto.createHash("sha256").update(fs.readFileSync(requirements)).update(`\n${version.trim()}`).digest("hex").slice(0, 16);
    try {
        const bin = ensureVenv({
            dir: path.join(path.resolve(cacheDir), "export-venv", key),
            installs: [["-r", requirements]],
            what: "the ONNX export environment (torch, transformers, onnx: once per requirements file; several GB and a few minutes; set ML_LAMBDA_EXPORT_PYTHON to reuse a Python that has them)",
            log: opts.log,
        });
        return path.join(bin, "python");
    } catch (e) {
        if (e instanceof MlLambdaError) throw e;
        throw new MlLambdaError("ML_LAMBDA_EXPORT_PYTHON", undefined, `creating the ONNX export environment failed: ${(e as Error).message}`,
            "fix the cause above and retry, or set ML_LAMBDA_EXPORT_PYTHON to a Python with the packages of python/requirements-export.txt");
    }
}

/** Content-addressed S3 key: a changed model is a new key, an old one is never overwritten. */
export function modelObjectKey(m: Pick<PreparedModel, "name" | "sha256">): string {
    const safe = m.name.replace(/[^A-Za-z0-9._-]/g, "-");
    return `models/${safe}/${m.sha256}.tar.gz`;
}
