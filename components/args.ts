import * as pulumi from "@pulumi/pulumi";
import type { Architecture, Runtime } from "./limits";

/** How the function is to be packaged: "auto" measures and chooses a path; "zip" or "image" forces one. */
export type PackagingMode = "auto" | "zip" | "image";

/** The path a function is deployed on: what "auto" chose, or what was forced. */
export type PackagingPath = Exclude<PackagingMode, "auto">;

/**
 * Zip path: how the model reaches the function. "auto" measures and takes the fastest that fits; "layer" forces a
 * layer of its own (nothing fetched at init); "s3" forces the model bucket (fetched into /tmp at init).
 */
export type ModelDelivery = "auto" | "layer" | "s3";

/** Which embedding backend the function runs (and which model artifact is prepared for it). */
export type Backend = "torch" | "onnx" | "onnx-int8";

/** A model from a local directory, in sentence-transformers layout (config.json, tokenizer, weights, modules.json). */
export interface LocalModel {
    /** Directory holding the model files. Relative paths resolve from the Pulumi program's working directory. */
    path: string;
    /** Name reported by the function in its responses. @default the directory's base name */
    name?: string;
}

/** A model pinned to one Hugging Face Hub commit, so every `pulumi up` ships the same bytes. */
export interface HubModel {
    /** Repository id, e.g. "sentence-transformers/all-MiniLM-L6-v2". */
    id: string;
    /** Full 40-character commit hash. Branch names ("main") are refused: they move. */
    revision: string;
}

export type ModelSource = LocalModel | HubModel;

/** Provisioned concurrency scaled by Application Auto Scaling (target tracking on utilization). */
export interface ProvisionedConcurrencyScaling {
    /** Environments kept warm at all times (the scalable target's minimum). At least 1. */
    min: number;
    /** Upper bound the scaler may reach. At least `min`; at most `reservedConcurrency` when that is set. */
    max: number;
    /**
     * Target for `LambdaProvisionedConcurrencyUtilization`, between 0.1 and 0.9: the fraction of the provisioned
     * environments in use that the scaler keeps. @default 0.7 (the target AWS's provisioned concurrency guide uses)
     */
    targetUtilization?: number;
}

/** Who may call the function URL: signed requests only (AWS_IAM), or anyone on the internet (NONE). */
export type FunctionUrlAuthType = "AWS_IAM" | "NONE";

/** How the function URL returns the response: BUFFERED (the whole response at once) is what the Python handler does. */
export type FunctionUrlInvokeMode = "BUFFERED" | "RESPONSE_STREAM";

/** CORS headers the function URL answers browsers with (Lambda handles the preflight OPTIONS itself). */
export interface FunctionUrlCors {
    /** Origins allowed to call, each `scheme://host[:port]` (no path), or `["*"]` for any. At most 100. */
    allowOrigins?: string[];
    /** HTTP methods allowed: GET, POST, PUT, PATCH, DELETE, HEAD, or `"*"`. At most 6. */
    allowMethods?: string[];
    /** Request headers browsers may send (header names, or `"*"`). At most 100, each ≤ 1,024 characters. */
    allowHeaders?: string[];
    /** Response headers browsers may read (header names). At most 100, each ≤ 1,024 characters. */
    exposeHeaders?: string[];
    /** Allow cookies and authorization headers; not with the `"*"` origin (browsers refuse that pair). @default false */
    allowCredentials?: boolean;
    /** Seconds browsers may cache a preflight answer, 0–86,400. @default 0 (no caching) */
    maxAge?: number;
}

/** An HTTPS endpoint (Lambda function URL) on the `live` alias. */
export interface FunctionUrlArgs {
    /**
     * "AWS_IAM": callers sign requests with SigV4 and need lambda:InvokeFunctionUrl and lambda:InvokeFunction on the
     * alias; "NONE": public, the component adds the resource-based permissions a public URL needs.
     * @default "AWS_IAM"
     */
    authType?: FunctionUrlAuthType;
    /** CORS for browser callers. @default undefined (no CORS headers) */
    cors?: FunctionUrlCors;
    /**
     * "BUFFERED" only: Lambda streams responses natively from Node.js managed runtimes, not Python ones, so
     * "RESPONSE_STREAM" is refused. @default "BUFFERED"
     */
    invokeMode?: FunctionUrlInvokeMode;
}

/** A layer published outside this component. It counts against the 262,144,000-byte unzipped limit, so declare its size. */
export interface ExternalLayer {
    /** Layer version ARN. */
    arn: string;
    /** Unzipped size of the layer's content in bytes (`ml-lambda size --zip layer.zip` measures it). */
    unzippedBytes: number;
}

export interface MlLambdaArgs {
    /**
     * The Lambda function's name (also names its log group, /aws/lambda/<name>, and its ECR repository).
     * Limit: 1–64 letters, digits, hyphens, underscores.
     * @default "<project>-<stack>-<component name>", shortened with a hash suffix past 64 characters
     * @example "embeddings-prod"
     */
    functionName?: string;
    /**
     * Directory whose contents become the function's code root (`LAMBDA_TASK_ROOT`): zipped on the zip path,
     * copied to `src/` of the image build context on the image path.
     * Limit: code + layers ≤ 262,144,000 bytes unzipped on the zip path.
     * @default the package's own function, `<package>/python/src`
     * @example "./functions/embed/src"
     */
    handlerDir?: string;
    /**
     * Handler in `module.function` form, relative to `handlerDir`.
     * @default "app.handler.lambda_handler"
     * @example "my_pkg.main.handler"
     */
    handler?: string;
    /**
     * The function's dependencies: a pip requirements file, or a uv project (its `pyproject.toml` or `uv.lock`; the
     * lock must sit beside the pyproject). Built for the Lambda platform (binary wheels only) into a layer on the zip
     * path, installed by the Dockerfile on the image path. A uv project is built from its lock: uv checks the lock
     * still matches pyproject.toml (a stale lock is refused: run `uv lock`) and exports the locked versions of
     * `[project] dependencies`; extras, dependency groups (dev included) and the project itself are not taken. A
     * pyproject.toml without uv.lock is refused unless ML_LAMBDA_RESOLVE_UNLOCKED=1 (resolved at deploy time).
     * @default the ONNX profile for the onnx backends (`python/requirements-onnx.txt`), the torch profile otherwise (`python/requirements.txt`)
     * @example "./functions/embed/pyproject.toml"
     */
    requirements?: string;
    /**
     * Dockerfile for the image path. The component stages its build context: Dockerfile, .dockerignore, requirements.txt, src/ (handlerDir), model/ (the prepared model) and docker/ (the bundled RUN-step scripts).
     * @default `<package>/python/Dockerfile`
     */
    dockerfile?: string;
    /**
     * "zip": code zip + dependency layer (fails with the reason if it cannot fit); "image": ECR container image;
     * "auto": build, measure the unzipped size of code + layers, and take zip when it fits, image otherwise.
     * Limit: zip path needs code + all layers ≤ 262,144,000 bytes unzipped and ≤ 5 layers.
     * @default "auto"
     * @example "image"
     */
    packaging?: PackagingMode;
    /**
     * Lambda Python runtime. python3.11 runs on Amazon Linux 2 (manylinux2014 wheels) and is deprecated
     * 2027-06-30; python3.12+ run on AL2023 and support SnapStart. python3.9/3.10 are refused (deprecated).
     * @default "python3.12"
     * @example "python3.13"
     */
    runtime?: Runtime;
    /**
     * Instruction set. arm64 is about 20 % cheaper per GB-second; every dependency must have an aarch64 wheel.
     * @default "x86_64"
     * @example "arm64"
     */
    architecture?: Architecture;
    /**
     * Memory in MB, 128–10,240. CPU scales with it: 1,769 MB is one vCPU, 10,240 MB six.
     * @default 1769
     * @example 3008
     */
    memorySize?: number;
    /**
     * Timeout in seconds, 1–900. Leave room for a cold model load on the first request.
     * @default 60
     * @example 120
     */
    timeout?: number;
    /**
     * /tmp size in MB, 512–10,240. The zip path unpacks the model there when it comes from S3 (modelDelivery).
     * SnapStart requires 512.
     * @default 512
     * @example 2048
     */
    ephemeralStorage?: number;
    /**
     * The embedding model: a local directory, or a Hugging Face repository pinned to a commit.
     * @default { id: "sentence-transformers/all-MiniLM-L6-v2", revision: "1110a243fdf4706b3f48f1d95db1a4f5529b4d41" }
     * @example { path: "./models/all-MiniLM-L6-v2" }
     */
    model?: ModelSource;
    /**
     * Embedding backend. "onnx" (fp32) and "onnx-int8" run on onnxruntime + tokenizers + numpy (no torch: the
     * ~135 MiB profile fits the zip path, so the function can use SnapStart); "torch" runs sentence-transformers
     * itself (5.3 GiB with PyPI's torch: the image path). For the onnx backends the model's own published ONNX file
     * is used when it has one (onnx/model.onnx; for onnx-int8 onnx/model_quint8_avx2.onnx on x86_64,
     * onnx/model_qint8_arm64.onnx on arm64), its sha256 checked against the hub's listing for the pinned revision
     * and, for the default model, its embeddings against reference embeddings shipped with the package (cosine
     * ≥ 0.999 for onnx, ≥ 0.98 for onnx-int8), with no torch on the deploy host. A model without one is exported
     * with torch in an export Python (ML_LAMBDA_EXPORT_PYTHON, else a virtualenv created once under the cache from
     * python/requirements-export.txt) and checked against sentence-transformers; ML_LAMBDA_ONNX_SOURCE=export
     * forces that export.
     * @default "onnx"
     * @example "torch"
     */
    backend?: Backend;
    /**
     * Zip path: how the model reaches the function. "auto" measures: the model goes into a Lambda layer of its own,
     * unpacked read-only at /opt/ml/model (MODEL_DIR), when code + own layers + external layers + the model fit under
     * the unzipped limit minus headroomBytes and within 5 layers: nothing is fetched at init, and the role gets no
     * S3 read at all. Otherwise the model is an archive in the model bucket (an uncompressed .tar,
     * content-addressed), fetched and sha256-checked into /tmp at init (MODEL_BUCKET, MODEL_KEY, MODEL_SHA256).
     * Among the options that fit, the one measured fastest wins: model layer + bytecode, model layer, S3 + bytecode,
     * S3 (the size report lists each with its bytes and measured time). "layer" forces the layer (an error names the
     * bytes over when it cannot fit); "s3" forces the bucket. The image path always bakes the model into the image:
     * only "auto" is accepted there.
     * Limit: code + all layers + the model ≤ 262,144,000 bytes unzipped (minus headroomBytes); ≤ 5 layers.
     * @default "auto"
     * @example "s3"
     */
    modelDelivery?: ModelDelivery;
    /**
     * Zip path: ship compiled bytecode (`compileall --invalidation-mode unchecked-hash`, with a CPython of the
     * runtime's minor version on the deploy host, found like `ml-lambda invoke`'s: ML_LAMBDA_RUNTIME_PYTHON, pyenv,
     * `uv python find`) in the dependency layer and the code zip. /opt and /var/task are read-only, so without it
     * every cold start compiles the modules it imports again. When no such interpreter is found the build goes on
     * without bytecode and warns; "auto" delivery leaves bytecode out when only that makes the model layer fit.
     * Limit: the .pyc files count against the unzipped limit (~10 MB for the ONNX profile).
     * @default true
     * @example false
     */
    bytecode?: boolean;
    /**
     * Name of an existing S3 bucket for the model (and for layer zips over 50 MB). When unset, the component
     * creates an encrypted, versioned, private, TLS-only bucket.
     * @default undefined (a bucket is created)
     * @example "my-team-models"
     */
    modelBucket?: string;
    /**
     * Concurrency reserved for (and capping) this function. The account keeps at least 100 unreserved of its
     * default 1,000, so at most 900.
     * @default undefined (unreserved)
     * @example 50
     */
    reservedConcurrency?: number;
    /**
     * Execution environments kept initialized on the `live` alias: a number (static) or
     * `{ min, max, targetUtilization? }` (Application Auto Scaling; targetUtilization defaults to 0.7). Cannot be
     * combined with SnapStart.
     * Limit: ≤ reservedConcurrency when that is set.
     * @default undefined (none)
     * @example { min: 2, max: 20 }
     */
    provisionedConcurrency?: number | ProvisionedConcurrencyScaling;
    /**
     * An HTTPS endpoint for the function: a Lambda function URL on the `live` alias (so it serves the published
     * version, with its provisioned concurrency or SnapStart), exported as `url`. IAM-authenticated unless authType
     * is "NONE" (the policy pack refuses public URLs unless its config allows them).
     * Limit: payloads of 6 MB each way (buffered); CORS lists as in FunctionUrlCors.
     * @default undefined (no URL: invoke through the Lambda API)
     * @example { authType: "AWS_IAM", cors: { allowOrigins: ["https://app.example.com"], allowMethods: ["POST"] } }
     */
    url?: FunctionUrlArgs;
    /**
     * SnapStart on published versions: python3.12+ only, not with provisioned concurrency, /tmp must be 512 MB.
     * Python SnapStart adds cache and restore charges.
     * @default false
     * @example true
     */
    snapStart?: boolean;
    /**
     * CloudWatch Logs retention in days; one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
     * 1096, 1827, 2192, 2557, 2922, 3288, 3653.
     * @default 14
     * @example 30
     */
    logRetentionDays?: number;
    /**
     * Extra environment variables for the function. Names the component sets itself (MODEL_*, HF_*) are refused.
     * Limit: 4 KB for all variables together.
     * @default {}
     * @example { MAX_TEXTS: "128" }
     */
    environment?: Record<string, string>;
    /**
     * Tags for every taggable child resource.
     * @default {}
     * @example { team: "search" }
     */
    tags?: Record<string, string>;
    /**
     * Layers published elsewhere, with their declared unzipped size (they count against the limit).
     * Limit: at most 5 layers including the component's own dependency layer.
     * @default []
     * @example [{ arn: "arn:aws:lambda:us-east-1:123456789012:layer:tools:3", unzippedBytes: 4_000_000 }]
     */
    layers?: ExternalLayer[];
    /**
     * Bytes kept free below 262,144,000 when "auto" decides, so a small drift between plan and deploy does not
     * break the zip path.
     * @default 5242880 (5 MiB)
     * @example 0
     */
    headroomBytes?: number;
    /**
     * Let `pulumi destroy` delete a non-empty model bucket and ECR repository (dev stacks).
     * @default false
     * @example true
     */
    forceDestroy?: boolean;
    /**
     * Keep the model bucket and ECR repository when the stack (or this component) is destroyed (prod stacks).
     * Cannot be combined with forceDestroy.
     * @default false
     * @example true
     */
    retainData?: boolean;
    /**
     * ECR lifecycle rule: how many images to keep.
     * @default 10
     * @example 30
     */
    imageRetentionCount?: number;
    /**
     * SNS topic ARNs notified by the error, throttle and duration alarms.
     * @default [] (alarms without actions)
     * @example ["arn:aws:sns:us-east-1:123456789012:oncall"]
     */
    alarmActions?: pulumi.Input<string>[];
    /**
     * Where builds (layer, code zip, model archive, image context) are cached between runs.
     * @default env ML_LAMBDA_CACHE_DIR, else `<cwd>/.ml-lambda`
     */
    cacheDir?: string;
}
