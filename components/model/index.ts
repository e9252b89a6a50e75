import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { Backend, ModelSource } from "../args";
import type { Architecture } from "../limits";
import { bundledPython } from "../assets";
import { MlLambdaError } from "../errors";
import { hostPython, runPythonJson } from "../python";
import { ensureVenv, venvReady } from "../venv";

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
    /**
     * Deterministic, uncompressed .tar with the files at its root: the zip path's S3 object when the model does not
     * ship in a layer. Not gzipped: model weights are already dense (gzip saved 8 % on the ONNX file and cost every
     * cold start a gunzip).
     */
    archive: string;
    /** Hex sha256 of the archive: in the S3 key, and checked by the function before extracting. */
    sha256: string;
    bytes: number;
    unpackedBytes: number;
    files: string[];
    /** The backend the artifact was prepared for: the source files (torch), or an ONNX graph of them. */
    backend: Backend;
    /** onnx / onnx-int8, when the model publishes no ONNX file for the backend: the torch export and its parity. */
    export: OnnxExport | null;
    /** onnx / onnx-int8, when the model publishes one: the published ONNX file taken (no torch), and its checks. */
    published: PublishedOnnx | null;
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

/** The model's own ONNX file (a hub repository's `onnx/model.onnx` or quantized variant, or model.path's). */
export interface PublishedOnnx {
    /** Its path in the repository: onnx/model.onnx (onnx), onnx/model_quint8_avx2.onnx (onnx-int8, x86_64), onnx/model_qint8_arm64.onnx (onnx-int8, arm64). */
    file: string;
    sha256: string;
    /** What its sha256 was checked against (null for a local model.path file: nothing to check it against). */
    expectedSha256: string | null;
    expectedFrom: string | null;
    /** Cache key: the file's and the configs' hashes, the backend, the reference, the check environment, the scripts. */
    key: string;
    cached: boolean;
    /** Cosine to the reference embeddings shipped for this model and revision (the default model); null for others. */
    parity: { sentences: number; cosine_min: number; cosine_mean: number; worst_text: string; floor: number; reference: string } | null;
    reference: string | null;
    floor: number;
    /** Why parity was not measured (a model without shipped reference embeddings). */
    warnings: string[];
    seconds: number;
}

export function isHubModel(m: ModelSource): m is { id: string; revision: string } {
    return (m as { id?: string }).id !== undefined;
}

export interface PrepareOptions {
    /** The function's architecture: picks the published int8 file (onnx-int8). @default "x86_64" */
    architecture?: Architecture;
    /** Requirements of the managed export environment. @default the package's python/requirements-export.txt */
    exportRequirements?: string;
    /** Requirements of the check environment. @default the package's python/requirements-onnx.txt (the function's own) */
    checkRequirements?: string;
    /** Where the managed environments live (export-venv/, onnx-check-venv/). @default cacheDir */
    venvRoot?: string;
    /** Progress lines of the environment setup. @default write to stderr */
    log?: (line: string) => void;
}

type Need = { need: "export-python" | "check-python" };

/**
 * Resolves and archives the model (cached by content). Synchronous: the graph needs its sha256.
 * For the onnx backends the artifact is an ONNX graph (model.onnx + tokenizer + configs + ml_lambda_onnx.json):
 *  - the model's own published file when it has one for the backend and architecture (a hub repository's
 *    onnx/model.onnx at the pinned revision, its sha256 checked against the hub's listing; for the default model its
 *    embeddings checked against reference embeddings shipped with the package), run by the function's own backend
 *    in a small environment made from python/requirements-onnx.txt: no torch on the deploy host;
 *  - else an export made with torch in an export Python (ML_LAMBDA_EXPORT_PYTHON, or an environment created under
 *    the cache from python/requirements-export.txt), parity-checked against sentence-transformers.
 * prepare_model.py decides which, and asks (`{"need": ...}`) for an environment only when a step needs it; this
 * creates it (components/venv.ts) and runs the script again.
 */
export function prepareModel(model: ModelSource, cacheDir: string, backend: Backend = "torch", opts: PrepareOptions = {}): PreparedModel {
    const script = path.join(__dirname, "prepare_model.py");
    const base = ["--cache", cacheDir, "--backend", backend, "--architecture", opts.architecture ?? "x86_64"];
    if (isHubModel(model)) base.push("--hub-id", model.id, "--revision", model.revision);
    else {
        base.push("--path", path.resolve(model.path));
        if (model.name) base.push("--name", model.name);
    }
    if (backend === "torch") return runPythonJson<PreparedModel>(script, base, "model preparation");
    base.push("--function-src", bundledPython().handlerDir);
    const venvRoot = opts.venvRoot ?? cacheDir;
    const check = checkVenv(venvRoot, opts);
    const exporter = process.env.ML_LAMBDA_EXPORT_PYTHON ? undefined : exportVenv(venvRoot, opts);
    const made = new Set<string>();
    for (;;) {
        const args = [...base, "--check-key", check.key];
        if (venvReady(check.dir)) args.push("--check-python", path.join(check.dir, "bin", "python"));
        if (exporter && venvReady(exporter.dir)) args.push("--export-python", path.join(exporter.dir, "bin", "python"));
        const out = runPythonJson<PreparedModel | Need>(script, args, "model preparation");
        if (!("need" in out)) return out;
        if (made.has(out.need)) throw new Error(`model preparation asked for ${out.need} again after it was created`);
        made.add(out.need);
        if (out.need === "check-python") createManagedVenv(check, opts);
        else if (exporter) createManagedVenv(exporter, opts);
        else throw new Error("model preparation asked for the export environment while ML_LAMBDA_EXPORT_PYTHON is set");
    }
}

/** A build environment the component manages, and what its messages say. */
interface VenvKind {
    /** Its directory under the cache. */
    kind: string;
    requirements: string;
    /** The setting its errors name. */
    setting: string;
    /** Its name in errors. */
    label: string;
    /** What ensureVenv announces it creates. */
    what: string;
    /** The fix when creating it fails. */
    createFix: string;
    /** The refusal when the requirements file is missing. */
    missing: { limit: string; fix: string };
}

type ManagedVenv = VenvKind & { dir: string; key: string };

const pythonVersions = new Map<string, string>();

/** A venv belongs to the interpreter it was made from: its key is the requirements file and that interpreter. */
function managedVenv(root: string, k: VenvKind): ManagedVenv {
    if (!fs.existsSync(k.requirements)) throw new MlLambdaError(k.setting, undefined, k.missing.limit, k.missing.fix);
    const python = hostPython();
    if (!pythonVersions.has(python)) pythonVersions.set(python, (spawnSync(python, ["-c", "import sys; print(sys.version)"], { encoding: "utf8" }).stdout ?? "").trim());
    const key = crypto.createHash("sha256").update(fs.readFileSync(k.requirements)).update(`\n${pythonVersions.get(python)}`).digest("hex").slice(0, 16);
    return { ...k, dir: path.join(path.resolve(root), k.kind, key), key };
}

function createManagedVenv(v: ManagedVenv, opts: PrepareOptions): void {
    try {
        ensureVenv({ dir: v.dir, installs: [["-r", v.requirements]], what: v.what, log: opts.log });
    } catch (e) {
        if (e instanceof MlLambdaError) throw e;
        throw new MlLambdaError(v.setting, undefined, `creating ${v.label} failed: ${(e as Error).message}`, v.createFix);
    }
}

/**
 * The check environment: the function's own ONNX profile (onnxruntime, tokenizers, numpy: ~230 MB, no torch), in
 * which the function's backend runs a published ONNX file before it is accepted. Created once per requirements
 * file and host Python, under <cache>/onnx-check-venv/.
 */
function checkVenv(root: string, opts: PrepareOptions): ManagedVenv {
    const requirements = opts.checkRequirements ?? bundledPython().requirementsOnnx;
    return managedVenv(root, {
        kind: "onnx-check-venv", requirements, setting: "backend", label: "the ONNX check environment",
        what: "the ONNX check environment (onnxruntime, tokenizers, numpy from the function's requirements-onnx.txt; no torch: once per requirements file, ~230 MB)",
        createFix: "fix the cause above and retry (it installs python/requirements-onnx.txt into a virtualenv of this host's Python; ML_LAMBDA_PYTHON names another), or use backend torch",
        missing: { limit: `the requirements file to create it is missing (${requirements})`, fix: "reinstall pulumi-ml-lambda (the file ships with it)" },
    });
}

/**
 * The export environment: a virtualenv with the export requirements (torch & co., several GB), created only when a
 * model must be exported (it publishes no ONNX file for the backend), once per requirements file and host Python,
 * under <cache>/export-venv/.
 */
function exportVenv(root: string, opts: PrepareOptions): ManagedVenv {
    const requirements = opts.exportRequirements ?? path.join(bundledPython().root, "requirements-export.txt");
    return managedVenv(root, {
        kind: "export-venv", requirements, setting: "ML_LAMBDA_EXPORT_PYTHON", label: "the ONNX export environment",
        what: "the ONNX export environment (torch, transformers, onnx: the model publishes no ONNX file for this backend; once per requirements file; several GB and a few minutes; set ML_LAMBDA_EXPORT_PYTHON to reuse a Python that has them)",
        createFix: "fix the cause above and retry, or set ML_LAMBDA_EXPORT_PYTHON to a Python with the packages of python/requirements-export.txt",
        missing: {
            limit: `the ONNX export needs a Python with torch, transformers, sentence-transformers, onnx and onnxruntime, and the requirements file to create one is missing (${requirements})`,
            fix: "set ML_LAMBDA_EXPORT_PYTHON to such a Python",
        },
    });
}

/**
 * Content-addressed S3 key, named for its format: a changed model is a new key, an old one is never overwritten.
 * `models/<name>/<sha256>.tar` (archives made before the format changed were .tar.gz).
 */
export function modelObjectKey(m: Pick<PreparedModel, "name" | "sha256"> & { archive?: string }): string {
    const safe = m.name.replace(/[^A-Za-z0-9._-]/g, "-");
    return `models/${safe}/${m.sha256}${m.archive?.endsWith(".tar.gz") ? ".tar.gz" : ".tar"}`;
}

/** The archive's media type, for the S3 object. */
export function modelContentType(m: { archive: string }): string {
    return m.archive.endsWith(".tar.gz") ? "application/gzip" : "application/x-tar";
}

export { modelLayer, modelLayerBytes, MODEL_LAYER_PREFIX } from "./layer";
export type { ModelLayer } from "./layer";
