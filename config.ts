/**
 * The program's typed stack configuration: the "ml-lambda" namespace of Pulumi.<stack>.yaml -> MlLambdaArgs.
 * parseStackConfig is pure (no Pulumi runtime), so it is unit-tested directly and reused by the docs generator;
 * readStackConfig hands it what pulumi.Config holds. Any mistake names the setting, the value, the limit and the fix.
 *
 * Pulumi's project config schema knows only string, integer, boolean and array. Settings that are "unset" by
 * default therefore use a sentinel default (-1, 0 or "") that this parser maps to undefined, and the object form
 * of provisionedConcurrency is written as a JSON string: '{"min": 2, "max": 20}' (targetUtilization defaults to 0.7).
 * The function URL follows the same shape: "" (none), the auth type alone ("AWS_IAM", "NONE") for the common case,
 * or the whole object as JSON when CORS is needed: '{"authType": "NONE", "cors": {"allowOrigins": ["https://app.example.com"]}}'.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { Backend, FunctionUrlArgs, MlLambdaArgs, ModelDelivery, PackagingMode } from "./components/args";
import { MlLambdaError } from "./components/errors";
import { DEFAULT_RUNTIME } from "./components/limits";
import { DEFAULT_MODEL_ID, DEFAULT_MODEL_REVISION } from "./components/model";
import { DEFAULTS } from "./components/validate";

export const CONFIG_NAMESPACE = "ml-lambda";

export interface ConfigKeySpec {
    key: string;
    type: "string" | "integer" | "boolean";
    default: string | number | boolean;
    description: string;
}

/** Every per-stack key, with the type/default/description that Pulumi.yaml declares (a test keeps them equal). */
export const STACK_CONFIG_KEYS: ConfigKeySpec[] = [
    { key: "memorySize", type: "integer", default: DEFAULTS.memorySize, description: "Function memory in MB, 128-10240 (1769 = one vCPU)." },
    { key: "timeout", type: "integer", default: DEFAULTS.timeout, description: "Function timeout in seconds, 1-900." },
    { key: "ephemeralStorage", type: "integer", default: DEFAULTS.ephemeralStorage, description: "/tmp size in MB, 512-10240 (SnapStart needs 512)." },
    { key: "architecture", type: "string", default: DEFAULTS.architecture, description: "x86_64 or arm64 (arm64 needs aarch64 wheels for every dependency)." },
    { key: "runtime", type: "string", default: DEFAULT_RUNTIME, description: "python3.11, python3.12, python3.13 or python3.14 (3.9/3.10 are deprecated)." },
    { key: "packaging", type: "string", default: DEFAULTS.packaging, description: "auto (measure and choose), zip (code + layer) or image (ECR container image)." },
    { key: "backend", type: "string", default: DEFAULTS.backend, description: "Embedding backend: onnx (zip path, no torch), onnx-int8 (zip path) or torch (image path)." },
    { key: "modelDelivery", type: "string", default: DEFAULTS.modelDelivery, description: "Zip path: auto (the model in a layer of its own when it fits, else fetched from S3 at init), layer or s3." },
    { key: "bytecode", type: "boolean", default: DEFAULTS.bytecode, description: "Zip path: ship .pyc bytecode compiled with the runtime's Python in the layer and code zip (faster cold starts)." },
    { key: "requirements", type: "string", default: "", description: "Requirements file, or a uv project's pyproject.toml / uv.lock (relative to the project); empty = the bundled profile for the backend." },
    { key: "reservedConcurrency", type: "integer", default: -1, description: "Reserved concurrency, 0-900; -1 = unreserved." },
    { key: "provisionedConcurrency", type: "string", default: "0", description: "0 = none, a number (static), or JSON {\"min\",\"max\"} for auto scaling (optional \"targetUtilization\", default 0.7)." },
    { key: "url", type: "string", default: "", description: "HTTPS endpoint (function URL on the live alias): \"\" = none, AWS_IAM (signed requests), NONE (public), or JSON {\"authType\",\"cors\"}." },
    { key: "snapStart", type: "boolean", default: DEFAULTS.snapStart, description: "SnapStart on published versions (python3.12+, no provisioned concurrency, /tmp 512 MB)." },
    { key: "logRetentionDays", type: "integer", default: DEFAULTS.logRetentionDays, description: "CloudWatch Logs retention in days (one of CloudWatch's allowed values)." },
    { key: "forceDestroy", type: "boolean", default: false, description: "Let destroy delete a non-empty model bucket and ECR repository (dev)." },
    { key: "retainData", type: "boolean", default: false, description: "Keep the model bucket and ECR repository when the stack is destroyed (prod)." },
    { key: "modelId", type: "string", default: DEFAULT_MODEL_ID, description: "Hugging Face model id (used when modelPath is empty)." },
    { key: "modelRevision", type: "string", default: DEFAULT_MODEL_REVISION, description: "Full 40-hex commit of modelId; branch names are refused." },
    { key: "modelPath", type: "string", default: "", description: "Local model directory (relative to the project); overrides modelId/modelRevision." },
    { key: "modelBucket", type: "string", default: "", description: "Existing S3 bucket for the model; empty = create one." },
    { key: "functionName", type: "string", default: "", description: "Lambda function name; empty = <project>-<stack>-<name>." },
    { key: "headroomBytes", type: "integer", default: DEFAULTS.headroomBytes, description: "Bytes kept free below the 262144000-byte unzipped limit when packaging is auto." },
    { key: "alarmTopicArn", type: "string", default: "", description: "SNS topic notified by the error/throttle/duration alarms; empty = no actions." },
];

const KNOWN = new Set(STACK_CONFIG_KEYS.map((k) => k.key));

/** The parsed stack: component args plus settings that belong to the program or the policy pack. */
export interface StackConfig {
    args: MlLambdaArgs;
    alarmTopicArn?: string;
}

function setting(key: string) {
    return `${CONFIG_NAMESPACE}:${key}`;
}

function asInt(key: string, v: unknown): number {
    const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
    if (!Number.isInteger(n)) {
        throw new MlLambdaError(setting(key), v, "must be a whole number", `set it with \`pulumi config set ${key} <number>\``);
    }
    return n;
}

function asBool(key: string, v: unknown): boolean {
    if (typeof v === "boolean") return v;
    if (v === "true" || v === "false") return v === "true";
    throw new MlLambdaError(setting(key), v, "must be true or false", `set it with \`pulumi config set ${key} true\``);
}

function asString(key: string, v: unknown): string {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    throw new MlLambdaError(setting(key), v, "must be a string", `set it with \`pulumi config set ${key} <value>\``);
}

function asProvisioned(v: unknown): MlLambdaArgs["provisionedConcurrency"] {
    if (typeof v === "number") return v;
    if (typeof v === "object" && v !== null) return v as MlLambdaArgs["provisionedConcurrency"];
    const s = asString("provisionedConcurrency", v).trim();
    if (/^\d+$/.test(s)) return Number(s);
    if (s.startsWith("{")) {
        try {
            return JSON.parse(s);
        } catch (e) {
            throw new MlLambdaError(setting("provisionedConcurrency"), s, `is not valid JSON (${(e as Error).message})`,
                `use '{"min": 2, "max": 20}' (targetUtilization defaults to 0.7)`);
        }
    }
    throw new MlLambdaError(setting("provisionedConcurrency"), s, "must be a number or a JSON object {min, max, targetUtilization?}",
        `use 2, or '{"min": 2, "max": 20}' (targetUtilization defaults to 0.7)`);
}

/** "" → no URL; "AWS_IAM" / "NONE" → that auth type; a JSON object → the whole url argument (checked by the gate). */
function asUrl(v: unknown): FunctionUrlArgs | undefined {
    if (typeof v === "object" && v !== null) return v as FunctionUrlArgs;
    const s = asString("url", v).trim();
    if (s === "") return undefined;
    if (s.startsWith("{")) {
        try {
            return JSON.parse(s);
        } catch (e) {
            throw new MlLambdaError(setting("url"), s, `is not valid JSON (${(e as Error).message})`,
                `use '{"authType": "AWS_IAM", "cors": {"allowOrigins": ["https://app.example.com"]}}'`);
        }
    }
    if (s === "AWS_IAM" || s === "NONE") return { authType: s };
    throw new MlLambdaError(setting("url"), s, 'must be "" (no URL), "AWS_IAM", "NONE", or a JSON object {authType, cors}',
        "use `pulumi config set url AWS_IAM` (signed requests) or `pulumi config set url NONE` (public)");
}

/**
 * Parses the project's config namespace. `raw` maps bare keys ("memorySize") to what Pulumi hands the program
 * (strings, or already-typed values from YAML); missing keys take the declared defaults.
 * `projectDir` anchors relative paths (requirements, modelPath).
 */
export function parseStackConfig(raw: Record<string, unknown>, projectDir: string): StackConfig {
    for (const key of Object.keys(raw)) {
        if (!KNOWN.has(key)) {
            const near = [...KNOWN].find((k) => k.toLowerCase() === key.toLowerCase());
            throw new MlLambdaError(setting(key), raw[key], "is not a setting of this project",
                near ? `did you mean "${near}"?` : `known settings: ${[...KNOWN].join(", ")}`);
        }
    }
    const get = (key: string) => {
        const v = raw[key];
        return v === undefined || v === null ? STACK_CONFIG_KEYS.find((k) => k.key === key)!.default : v;
    };
    const rel = (p: string) => (p === "" ? undefined : path.resolve(projectDir, p));

    const reserved = asInt("reservedConcurrency", get("reservedConcurrency"));
    const modelPath = rel(asString("modelPath", get("modelPath")));
    const modelBucket = asString("modelBucket", get("modelBucket"));
    const functionName = asString("functionName", get("functionName"));
    const alarmTopicArn = asString("alarmTopicArn", get("alarmTopicArn"));
    const provisioned = asProvisioned(get("provisionedConcurrency"));
    const url = asUrl(get("url"));

    const args: MlLambdaArgs = {
        memorySize: asInt("memorySize", get("memorySize")),
        timeout: asInt("timeout", get("timeout")),
        ephemeralStorage: asInt("ephemeralStorage", get("ephemeralStorage")),
        architecture: asString("architecture", get("architecture")) as MlLambdaArgs["architecture"],
        runtime: asString("runtime", get("runtime")) as MlLambdaArgs["runtime"],
        packaging: asString("packaging", get("packaging")) as PackagingMode,
        backend: asString("backend", get("backend")) as Backend,
        modelDelivery: asString("modelDelivery", get("modelDelivery")) as ModelDelivery,
        bytecode: asBool("bytecode", get("bytecode")),
        requirements: rel(asString("requirements", get("requirements"))),
        // -1 is the "unset" sentinel; anything else (including invalid negatives) goes to the validator.
        reservedConcurrency: reserved === -1 ? undefined : reserved,
        provisionedConcurrency: provisioned === 0 ? undefined : provisioned,
        url,
        snapStart: asBool("snapStart", get("snapStart")),
        logRetentionDays: asInt("logRetentionDays", get("logRetentionDays")),
        forceDestroy: asBool("forceDestroy", get("forceDestroy")),
        retainData: asBool("retainData", get("retainData")),
        model: modelPath
            ? { path: modelPath }
            : { id: asString("modelId", get("modelId")), revision: asString("modelRevision", get("modelRevision")) },
        modelBucket: modelBucket === "" ? undefined : modelBucket,
        functionName: functionName === "" ? undefined : functionName,
        headroomBytes: asInt("headroomBytes", get("headroomBytes")),
        alarmActions: alarmTopicArn === "" ? [] : [alarmTopicArn],
    };
    // Drop undefined entries so the component's own defaults apply.
    for (const k of Object.keys(args) as Array<keyof MlLambdaArgs>) if (args[k] === undefined) delete args[k];
    return {
        args,
        alarmTopicArn: alarmTopicArn === "" ? undefined : alarmTopicArn,
    };
}

/** The stack's config as the program sees it (every key of our namespace, so a misspelt key is reported). */
export function readStackConfig(projectDir: string = __dirname): StackConfig {
    const raw: Record<string, unknown> = {};
    for (const [full, value] of Object.entries(pulumi.runtime.allConfig())) {
        const [ns, key] = full.split(":", 2);
        if (ns === CONFIG_NAMESPACE) raw[key] = value;
    }
    return parseStackConfig(raw, projectDir);
}
