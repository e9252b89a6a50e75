import * as pulumi from "@pulumi/pulumi";
import type { Architecture, Runtime } from "./limits";

/** How the function is to be packaged: "auto" measures and chooses a path; "zip" or "image" forces one. */
export type PackagingMode = "auto" | "zip" | "image";

/** The path a function is deployed on: what "auto" chose, or what was forced. */
export type PackagingPath = Exclude<PackagingMode, "auto">;

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
    /** Target for `LambdaProvisionedConcurrencyUtilization`, between 0.1 and 0.9 (AWS recommends about 0.7). */
    targetUtilization: number;
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
     * pip requirements file for the function's dependencies. Built for the Lambda platform (binary wheels only)
     * into a layer on the zip path, installed by the Dockerfile on the image path.
     * @default the ONNX profile for the onnx backends (`python/requirements-onnx.txt`), the torch profile otherwise (`python/requirements.txt`)
     * @example "./functions/embed/requirements.txt"
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
     * /tmp size in MB, 512–10,240. The zip path extracts the model there. SnapStart requires 512.
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
     * Embedding backend. "onnx"/"onnx-int8" run on onnxruntime + tokenizers + numpy (no torch; ~158 MiB, fits the
     * zip path); the model is exported to ONNX at deploy time with torch in an export Python
     * (ML_LAMBDA_EXPORT_PYTHON, else a virtualenv created once under the cache from python/requirements-export.txt)
     * and checked against sentence-transformers (cosine ≥ 0.999 for onnx, ≥ 0.98 for onnx-int8). "torch" runs
     * sentence-transformers itself (image path: torch alone is far over the zip limit).
     * @default "torch"
     * @example "onnx"
     */
    backend?: Backend;
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
     * `{ min, max, targetUtilization }` (Application Auto Scaling). Cannot be combined with SnapStart.
     * Limit: ≤ reservedConcurrency when that is set.
     * @default undefined (none)
     * @example { min: 2, max: 20, targetUtilization: 0.7 }
     */
    provisionedConcurrency?: number | ProvisionedConcurrencyScaling;
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
