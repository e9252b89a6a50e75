/**
 * The validation gate: every rule an argument must meet, each in one validator, and normalizeArgs, which applies
 * the defaults and runs them all. Every user mistake fails here, before any resource is registered, with an
 * MlLambdaError naming the setting, the value, the limit and the fix.
 *
 * The same validators guard the build steps' own entry points (buildLayer, decide) and the CLI's flags (which pass
 * their own setting name, e.g. "--headroom"), so a rule is written once whoever calls. Most validators are pure;
 * the path checks (validateExistingDir/File, validateHandler, validateModel with a path) only test that files exist.
 * This module sits below packaging/: it imports no build code.
 */
import * as fs from "fs";
import * as path from "path";
import type { Backend, ExternalLayer, FunctionUrlAuthType, FunctionUrlCors, MlLambdaArgs, ModelDelivery, ModelSource, PackagingMode, ProvisionedConcurrencyScaling } from "./args";
import { bundledPython, DEFAULT_HANDLER } from "./assets";
import { MlLambdaError } from "./errors";
import * as L from "./limits";
import { DEFAULT_MODEL_ID, DEFAULT_MODEL_REVISION } from "./model";

export const PACKAGING_MODES: readonly PackagingMode[] = ["auto", "zip", "image"];
export const BACKENDS: readonly Backend[] = ["torch", "onnx", "onnx-int8"];

/** Environment names the component owns; a user value would silently break model loading. */
export const RESERVED_ENV = ["MODEL_BUCKET", "MODEL_KEY", "MODEL_SHA256", "MODEL_DIR", "MODEL_NAME", "MODEL_BACKEND", "HF_HUB_OFFLINE"];
/** Lambda's limit for all environment variables together. */
export const ENV_LIMIT_BYTES = 4 * 1024;
/** Lambda function names: 1–64 of letters, digits, hyphens, underscores. */
const FUNCTION_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

export function validateMemorySize(v: unknown): number {
    if (!isInt(v) || v < L.MEMORY_MIN_MB || v > L.MEMORY_MAX_MB) {
        throw new MlLambdaError("memorySize", v, `must be a whole number of MB from ${L.MEMORY_MIN_MB} to ${L.MEMORY_MAX_MB}`,
            `use e.g. ${L.MEMORY_ONE_VCPU_MB} (one vCPU) or 3008; ML inference rarely needs less than 1024`);
    }
    return v;
}

export function validateTimeout(v: unknown): number {
    if (!isInt(v) || v < L.TIMEOUT_MIN_S || v > L.TIMEOUT_MAX_S) {
        throw new MlLambdaError("timeout", v, `must be whole seconds from ${L.TIMEOUT_MIN_S} to ${L.TIMEOUT_MAX_S} (Lambda's maximum)`,
            "use 60 for embeddings; split longer work into smaller requests or move it to a batch job");
    }
    return v;
}

export function validateEphemeralStorage(v: unknown): number {
    if (!isInt(v) || v < L.EPHEMERAL_MIN_MB || v > L.EPHEMERAL_MAX_MB) {
        throw new MlLambdaError("ephemeralStorage", v, `must be whole MB from ${L.EPHEMERAL_MIN_MB} to ${L.EPHEMERAL_MAX_MB}`,
            "use 512 (the default) unless the model archive plus its extracted copy need more /tmp");
    }
    return v;
}

export function validateArchitecture(v: unknown): L.Architecture {
    if (!(L.ARCHITECTURES as readonly unknown[]).includes(v)) {
        throw new MlLambdaError("architecture", v, `must be one of ${L.ARCHITECTURES.join(", ")}`,
            'use "x86_64", or "arm64" when every dependency has an aarch64 wheel');
    }
    return v as L.Architecture;
}

/** Returns the runtime and, for runtimes close to deprecation, a warning to print. */
export function validateRuntime(v: unknown): { runtime: L.Runtime; warning?: string } {
    if (typeof v === "string" && L.DEPRECATED_RUNTIMES.includes(v)) {
        throw new MlLambdaError("runtime", v, `${v} is deprecated on Lambda since ${L.RUNTIMES[v].deprecation}`,
            `use "${L.DEFAULT_RUNTIME}" (supported on Amazon Linux 2023, SnapStart capable)`);
    }
    if (!(L.SUPPORTED_RUNTIMES as readonly unknown[]).includes(v)) {
        throw new MlLambdaError("runtime", v, `must be one of ${L.SUPPORTED_RUNTIMES.join(", ")}`, `use "${L.DEFAULT_RUNTIME}"`);
    }
    const runtime = v as L.Runtime;
    const facts = L.RUNTIMES[runtime];
    const warning = L.ADVISORY_RUNTIMES.includes(runtime)
        ? `runtime ${runtime} is deprecated on ${facts.deprecation} and cannot use SnapStart; plan a move to ${L.DEFAULT_RUNTIME}`
        : undefined;
    return { runtime, warning };
}

export function validatePackaging(v: unknown): PackagingMode {
    if (!(PACKAGING_MODES as readonly unknown[]).includes(v)) {
        throw new MlLambdaError("packaging", v, `must be one of ${PACKAGING_MODES.join(", ")}`,
            'use "auto" to let the measured size decide, or force "zip" / "image"');
    }
    return v as PackagingMode;
}

/** Bytes kept free below the unzipped limit: a whole number, below the limit itself. */
export function validateHeadroom(v: unknown, limitBytes: number = L.UNZIPPED_LIMIT_BYTES, setting = "headroomBytes"): number {
    const headroom = validateNonNegativeInt(setting, v, `use 0 or a byte count such as ${L.DEFAULT_HEADROOM_BYTES}`);
    if (headroom >= limitBytes) {
        throw new MlLambdaError(setting, headroom, `must be below the ${limitBytes}-byte limit itself`, `use a few MB, e.g. ${L.DEFAULT_HEADROOM_BYTES}, or 0`);
    }
    return headroom;
}

export function validateModelDelivery(v: unknown): ModelDelivery {
    if (v === "auto" || v === "layer" || v === "s3") return v;
    throw new MlLambdaError("modelDelivery", v, 'must be "auto", "layer" or "s3"',
        'use "auto" (the model ships in a layer of its own when it fits, else from S3), "layer" or "s3"');
}

export function validateBackend(v: unknown): Backend {
    if (!(BACKENDS as readonly unknown[]).includes(v)) {
        throw new MlLambdaError("backend", v, `must be one of ${BACKENDS.join(", ")}`,
            'use "onnx" for the zip path (no torch), or "torch" for full sentence-transformers');
    }
    return v as Backend;
}

export function validateLogRetention(v: unknown): number {
    if (!(L.LOG_RETENTION_DAYS as readonly unknown[]).includes(v)) {
        throw new MlLambdaError("logRetentionDays", v, `must be one of CloudWatch's values: ${L.LOG_RETENTION_DAYS.join(", ")}`,
            "pick the nearest allowed value, e.g. 7 for dev or 30 for prod");
    }
    return v as number;
}

export function validateReservedConcurrency(v: unknown): number | undefined {
    if (v === undefined) return undefined;
    if (!isInt(v) || v < 0 || v > L.RESERVED_CONCURRENCY_MAX) {
        throw new MlLambdaError("reservedConcurrency", v,
            `must be a whole number from 0 to ${L.RESERVED_CONCURRENCY_MAX}: the account default is ${L.ACCOUNT_CONCURRENCY_DEFAULT} and ${L.UNRESERVED_CONCURRENCY_MIN} must stay unreserved`,
            "lower it, or request a higher account concurrency quota and set the value after the increase");
    }
    return v;
}

export type NormalizedProvisioned =
    | { kind: "none" }
    | { kind: "static"; count: number }
    | ({ kind: "autoscaling" } & Required<ProvisionedConcurrencyScaling>);

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function refuseUnknownKeys(setting: string, o: Record<string, unknown>, known: readonly string[]): void {
    const unknownKey = Object.keys(o).find((k) => !known.includes(k));
    if (unknownKey !== undefined) {
        throw new MlLambdaError(`${setting}.${unknownKey}`, o[unknownKey], `is not a known field (${known.join(", ")})`, "remove it or fix its spelling");
    }
}

export function validateProvisionedConcurrency(v: unknown, reserved: number | undefined): NormalizedProvisioned {
    if (v === undefined || v === 0) return { kind: "none" };
    const overReserved = (n: number, setting: string) => {
        if (reserved !== undefined && n > reserved) {
            throw new MlLambdaError(setting, n, `must not exceed reservedConcurrency (${reserved}): provisioned environments count against the reservation`,
                `raise reservedConcurrency to at least ${n}, or lower ${setting}`);
        }
    };
    if (typeof v === "number") {
        if (!isInt(v) || v < 0) {
            throw new MlLambdaError("provisionedConcurrency", v, "must be a whole number of environments (0 = none)",
                "use e.g. 2, or { min, max } for auto scaling");
        }
        overReserved(v, "provisionedConcurrency");
        return { kind: "static", count: v };
    }
    if (!isPlainObject(v)) {
        throw new MlLambdaError("provisionedConcurrency", v, "must be a number or { min, max, targetUtilization? }",
            'use 2, or { "min": 2, "max": 20 } (targetUtilization defaults to 0.7)');
    }
    const o = v;
    refuseUnknownKeys("provisionedConcurrency", o, ["min", "max", "targetUtilization"]);
    if (!isInt(o.min) || o.min < 1) {
        throw new MlLambdaError("provisionedConcurrency.min", o.min, "must be a whole number ≥ 1", "use e.g. 1 or 2");
    }
    if (!isInt(o.max) || o.max < o.min) {
        throw new MlLambdaError("provisionedConcurrency.max", o.max, `must be a whole number ≥ min (${o.min})`, `use a value ≥ ${o.min}`);
    }
    const target = o.targetUtilization === undefined ? L.DEFAULT_TARGET_UTILIZATION : o.targetUtilization;
    if (typeof target !== "number" || !(target >= L.TARGET_UTILIZATION_MIN && target <= L.TARGET_UTILIZATION_MAX)) {
        throw new MlLambdaError("provisionedConcurrency.targetUtilization", target,
            `must be a fraction from ${L.TARGET_UTILIZATION_MIN} to ${L.TARGET_UTILIZATION_MAX}`,
            `leave it out for ${L.DEFAULT_TARGET_UTILIZATION} (the target AWS's provisioned concurrency guide uses), or give a value in range`);
    }
    overReserved(o.max, "provisionedConcurrency.max");
    return { kind: "autoscaling", min: o.min, max: o.max, targetUtilization: target };
}

export function validateSnapStart(snapStart: boolean, runtime: L.Runtime, provisioned: NormalizedProvisioned, ephemeralStorage: number): void {
    if (!snapStart) return;
    if (!L.RUNTIMES[runtime].snapStart) {
        throw new MlLambdaError("snapStart", true, `SnapStart for Python needs python3.12 or later; runtime is ${runtime}`,
            `set runtime to "${L.DEFAULT_RUNTIME}", or set snapStart to false`);
    }
    if (provisioned.kind !== "none") {
        throw new MlLambdaError("snapStart", true, "SnapStart cannot be combined with provisioned concurrency on the same function",
            "choose one: remove provisionedConcurrency, or set snapStart to false");
    }
    if (ephemeralStorage > L.SNAPSTART_MAX_EPHEMERAL_MB) {
        throw new MlLambdaError("snapStart", true, `SnapStart requires ephemeralStorage ≤ ${L.SNAPSTART_MAX_EPHEMERAL_MB} MB; it is ${ephemeralStorage}`,
            `set ephemeralStorage to ${L.SNAPSTART_MAX_EPHEMERAL_MB}, or set snapStart to false`);
    }
}

// ---------------------------------------------------------------------------------------------------------
// The function URL
// ---------------------------------------------------------------------------------------------------------

/** The function URL as the component creates it: defaults applied, every value checked. */
export interface NormalizedUrl {
    authType: FunctionUrlAuthType;
    /** Always BUFFERED: the only mode a Python managed runtime serves (validateUrl refuses RESPONSE_STREAM). */
    invokeMode: "BUFFERED";
    cors?: FunctionUrlCors;
}

/** `url`: undefined (no URL) or { authType?, cors?, invokeMode? }. */
export function validateUrl(v: unknown, setting = "url"): NormalizedUrl | undefined {
    if (v === undefined) return undefined;
    if (!isPlainObject(v)) {
        throw new MlLambdaError(setting, v, "must be an object { authType?, cors?, invokeMode? }",
            'use { authType: "AWS_IAM" } for signed requests, or { authType: "NONE" } for a public endpoint');
    }
    refuseUnknownKeys(setting, v, ["authType", "cors", "invokeMode"]);
    const authType = v.authType === undefined ? "AWS_IAM" : v.authType;
    if (!(L.FUNCTION_URL_AUTH_TYPES as readonly unknown[]).includes(authType)) {
        throw new MlLambdaError(`${setting}.authType`, authType, `must be one of ${L.FUNCTION_URL_AUTH_TYPES.map((t) => `"${t}"`).join(", ")} (Lambda's AuthType, upper case)`,
            '"AWS_IAM" (the default) for SigV4-signed requests, or "NONE" for a public endpoint (the policy pack refuses it unless allowPublicUrls is set)');
    }
    const invokeMode = v.invokeMode === undefined ? "BUFFERED" : v.invokeMode;
    if (invokeMode === "RESPONSE_STREAM") {
        // https://docs.aws.amazon.com/lambda/latest/dg/configuration-response-streaming.html: Lambda streams responses
        // natively from Node.js managed runtimes; other languages need a custom runtime or the Lambda Web Adapter.
        throw new MlLambdaError(`${setting}.invokeMode`, invokeMode,
            "response streaming is served natively only by Lambda's Node.js managed runtimes; this function runs on a Python managed runtime and returns one buffered response (up to 6 MB)",
            'leave invokeMode out (or "BUFFERED"); split large requests so each response stays under 6 MB');
    }
    if (invokeMode !== "BUFFERED") {
        throw new MlLambdaError(`${setting}.invokeMode`, invokeMode, `must be one of ${L.FUNCTION_URL_INVOKE_MODES.map((t) => `"${t}"`).join(", ")}`,
            'leave it out: "BUFFERED" is the default and the only mode a Python function serves');
    }
    const cors = v.cors === undefined ? undefined : validateCors(v.cors, `${setting}.cors`);
    return { authType: authType as FunctionUrlAuthType, invokeMode, ...(cors ? { cors } : {}) };
}

/** HTTP header field names are RFC 9110 tokens. */
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const DNS_LABEL = "(?!-)[A-Za-z0-9-]{1,63}(?<!-)";
const HOST_RE = new RegExp(`^(?:${DNS_LABEL}(?:\\.${DNS_LABEL})*|\\d{1,3}(?:\\.\\d{1,3}){3}|\\[[0-9A-Fa-f:.]+\\])$`);

/**
 * One CORS origin: "*", or scheme://host[:port] exactly as a browser sends it in its Origin header (http or https,
 * no path, no trailing slash, no wildcard inside). Returns the origin; throws naming what is wrong and the fix.
 */
export function validateOrigin(v: unknown, setting: string): string {
    const limit = 'must be an origin, scheme://host[:port] (http or https, no path), or "*" for any origin';
    if (typeof v !== "string" || v === "") throw new MlLambdaError(setting, v, limit, 'use e.g. "https://app.example.com"');
    if (v === "*") return v;
    if (v.length > L.CORS_MAX_ORIGIN_LENGTH) {
        throw new MlLambdaError(setting, v, `origins are at most ${L.CORS_MAX_ORIGIN_LENGTH} characters (API_Cors)`, "shorten it, or use \"*\"");
    }
    const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(v);
    if (!m) {
        const fix = /^[\w.-]+(:\d+)?$/.test(v) ? `add the scheme: "https://${v}"` : 'use e.g. "https://app.example.com"';
        throw new MlLambdaError(setting, v, limit, fix);
    }
    const [, scheme, authority, rest] = m;
    if (!["http", "https"].includes(scheme.toLowerCase())) {
        throw new MlLambdaError(setting, v, `${limit}; "${scheme}" is not a scheme browsers send CORS requests from`, `use "https://${authority}"`);
    }
    if (rest !== "") {
        throw new MlLambdaError(setting, v, `${limit}; an origin has no path, query or trailing slash`, `use "${scheme}://${authority}"`);
    }
    if (authority.includes("*")) {
        throw new MlLambdaError(setting, v, `${limit}; function URLs match whole origins, not wildcard patterns`,
            'list each origin (e.g. "https://app.example.com", "https://admin.example.com"), or use "*" for any');
    }
    if (authority.includes("@")) {
        throw new MlLambdaError(setting, v, `${limit}; an origin carries no user name or password`, `use "${scheme}://${authority.split("@").pop()}"`);
    }
    const hp = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(authority);
    const port = hp?.[2] === undefined ? undefined : Number(hp[2]);
    if (!hp || !HOST_RE.test(hp[1]) || (port !== undefined && !(port >= 1 && port <= 65535))) {
        throw new MlLambdaError(setting, v, `${limit}; "${authority}" is not a host name with an optional port 1-65535`, 'use e.g. "https://app.example.com" or "http://localhost:3000"');
    }
    return v;
}

function stringList(v: unknown, setting: string, max: number, example: string): string[] {
    if (!Array.isArray(v)) throw new MlLambdaError(setting, v, "must be a list of strings", `use e.g. ${example}`);
    if (v.length > max) throw new MlLambdaError(setting, `${v.length} entries`, `at most ${max} entries (API_Cors)`, "merge or drop entries, or use \"*\"");
    return v as string[];
}

function validateHeaderNames(v: unknown, setting: string): string[] {
    const list = stringList(v, setting, L.CORS_MAX_HEADERS, '["content-type", "authorization"]');
    list.forEach((h, i) => {
        if (typeof h !== "string" || h === "" || h.length > L.CORS_MAX_HEADER_LENGTH || (h !== "*" && !HEADER_NAME_RE.test(h))) {
            throw new MlLambdaError(`${setting}[${i}]`, h,
                `must be an HTTP header name (letters, digits and !#$%&'*+.^_\`|~-, at most ${L.CORS_MAX_HEADER_LENGTH} characters) or "*"`,
                typeof h === "string" && h.includes(":") ? `give the name only: "${h.split(":")[0].trim()}"` : 'use e.g. "content-type"');
        }
    });
    return list;
}

export function validateCors(v: unknown, setting = "url.cors"): FunctionUrlCors {
    if (!isPlainObject(v)) {
        throw new MlLambdaError(setting, v, "must be an object { allowOrigins?, allowMethods?, allowHeaders?, exposeHeaders?, allowCredentials?, maxAge? }",
            '{ allowOrigins: ["https://app.example.com"], allowMethods: ["POST"] }');
    }
    refuseUnknownKeys(setting, v, ["allowOrigins", "allowMethods", "allowHeaders", "exposeHeaders", "allowCredentials", "maxAge"]);
    const out: FunctionUrlCors = {};
    if (v.allowOrigins !== undefined) {
        out.allowOrigins = stringList(v.allowOrigins, `${setting}.allowOrigins`, L.CORS_MAX_ORIGINS, '["https://app.example.com"]')
            .map((o, i) => validateOrigin(o, `${setting}.allowOrigins[${i}]`));
    }
    if (v.allowMethods !== undefined) {
        out.allowMethods = stringList(v.allowMethods, `${setting}.allowMethods`, L.CORS_MAX_METHODS, '["POST"]');
        out.allowMethods.forEach((meth, i) => {
            if (meth === "*" || (L.CORS_METHODS as readonly unknown[]).includes(meth)) return;
            const name = `${setting}.allowMethods[${i}]`;
            const upper = typeof meth === "string" ? meth.toUpperCase() : "";
            if (upper === "OPTIONS") {
                throw new MlLambdaError(name, meth, "OPTIONS cannot be listed (API_Cors allows 6 characters per method) and need not be: Lambda answers the preflight itself",
                    "remove OPTIONS");
            }
            throw new MlLambdaError(name, meth, `must be one of ${L.CORS_METHODS.join(", ")} or "*" (upper case)`,
                (L.CORS_METHODS as readonly string[]).includes(upper) ? `write it in upper case: "${upper}"` : 'use "POST" (what the embedding function is called with)');
        });
    }
    if (v.allowHeaders !== undefined) out.allowHeaders = validateHeaderNames(v.allowHeaders, `${setting}.allowHeaders`);
    if (v.exposeHeaders !== undefined) out.exposeHeaders = validateHeaderNames(v.exposeHeaders, `${setting}.exposeHeaders`);
    if (v.allowCredentials !== undefined) {
        if (typeof v.allowCredentials !== "boolean") {
            throw new MlLambdaError(`${setting}.allowCredentials`, v.allowCredentials, "must be true or false", "use true or false");
        }
        // The Fetch standard's CORS check fails a credentialed request answered with Access-Control-Allow-Origin "*".
        if (v.allowCredentials && out.allowOrigins?.includes("*")) {
            throw new MlLambdaError(`${setting}.allowCredentials`, true, 'browsers refuse credentialed requests answered with the "*" origin',
                "list the origins that send credentials in allowOrigins, or set allowCredentials to false");
        }
        out.allowCredentials = v.allowCredentials;
    }
    if (v.maxAge !== undefined) {
        if (!isInt(v.maxAge) || v.maxAge < 0 || v.maxAge > L.CORS_MAX_AGE_S) {
            throw new MlLambdaError(`${setting}.maxAge`, v.maxAge, `must be whole seconds from 0 to ${L.CORS_MAX_AGE_S} (one day)`,
                "use e.g. 300 (browsers cap it lower anyway: Chromium at 7,200 s, Firefox at 86,400 s)");
        }
        out.maxAge = v.maxAge;
    }
    return out;
}

export function validateLayers(v: unknown): ExternalLayer[] {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new MlLambdaError("layers", v, "must be a list of { arn, unzippedBytes }", "wrap the layer in a list");
    // The component's own dependency layer takes one of the five slots.
    if (v.length > L.MAX_LAYERS - 1) {
        throw new MlLambdaError("layers", `${v.length} layers`, `at most ${L.MAX_LAYERS} layers per function, and the dependency layer uses one`,
            `merge layers (at most ${L.MAX_LAYERS - 1} external), or use packaging "image"`);
    }
    v.forEach((l, i) => {
        if (typeof l?.arn !== "string" || !/^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$/.test(l.arn)) {
            throw new MlLambdaError(`layers[${i}].arn`, l?.arn, "must be a layer version ARN", "use arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION");
        }
        if (!isInt(l.unzippedBytes) || l.unzippedBytes < 0) {
            throw new MlLambdaError(`layers[${i}].unzippedBytes`, l.unzippedBytes,
                "must be the layer's unzipped size in bytes (it counts against the 262,144,000-byte limit)",
                "measure it with `ml-lambda size --zip layer.zip`");
        }
    });
    return v as ExternalLayer[];
}

export function validateModel(v: unknown): ModelSource {
    if (v === undefined) return { id: DEFAULT_MODEL_ID, revision: DEFAULT_MODEL_REVISION };
    if (typeof v !== "object" || v === null) {
        throw new MlLambdaError("model", v, "must be { path } or { id, revision }",
            `use { path: "./model" } or { id: "${DEFAULT_MODEL_ID}", revision: "<40-hex commit>" }`);
    }
    const o = v as Record<string, unknown>;
    if (o.path !== undefined && o.id !== undefined) {
        throw new MlLambdaError("model", v, "must be either { path } or { id, revision }, not both", "keep one of them");
    }
    if (o.path !== undefined) {
        if (typeof o.path !== "string" || !fs.existsSync(o.path) || !fs.statSync(o.path).isDirectory()) {
            throw new MlLambdaError("model.path", o.path, "must be an existing directory holding the model", "check the path (relative paths resolve from the working directory)");
        }
        return { path: path.resolve(o.path), ...(typeof o.name === "string" ? { name: o.name } : {}) };
    }
    if (typeof o.id !== "string" || !/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(o.id)) {
        throw new MlLambdaError("model.id", o.id, 'must be a Hugging Face repository id "owner/name"', `use e.g. "${DEFAULT_MODEL_ID}"`);
    }
    if (typeof o.revision !== "string" || !/^[0-9a-f]{40}$/.test(o.revision)) {
        throw new MlLambdaError("model.revision", o.revision, "must be a full 40-character commit hash: branch names move, so deploys would not be repeatable",
            `look it up with \`huggingface-cli repo info ${o.id}\` (or the model page's commit history) and pin it`);
    }
    return { id: o.id, revision: o.revision };
}

export function validateExistingDir(setting: string, v: string): string {
    if (!fs.existsSync(v) || !fs.statSync(v).isDirectory()) {
        throw new MlLambdaError(setting, v, "must be an existing directory", "check the path (relative paths resolve from the working directory)");
    }
    return path.resolve(v);
}

export function validateExistingFile(setting: string, v: string): string {
    if (!fs.existsSync(v) || !fs.statSync(v).isFile()) {
        throw new MlLambdaError(setting, v, "must be an existing file", "check the path (relative paths resolve from the working directory)");
    }
    return path.resolve(v);
}

// ---------------------------------------------------------------------------------------------------------
// The dependency source: a pip requirements file, or a uv project (pyproject.toml + uv.lock)
// ---------------------------------------------------------------------------------------------------------

/** Opt-in to resolve a pyproject.toml that has no uv.lock at deploy time (versions may then move between deploys). */
export const RESOLVE_UNLOCKED_ENV = "ML_LAMBDA_RESOLVE_UNLOCKED";

export type RequirementsSource =
    /** A pip requirements file, built as written. */
    | { kind: "requirements"; file: string }
    /** A uv project and its lock: the locked versions are exported to a pinned list and built. */
    | { kind: "uv.lock"; projectDir: string; pyproject: string; lock: string }
    /** A uv project without a lock, resolved into the build cache because RESOLVE_UNLOCKED_ENV opted in. */
    | { kind: "pyproject"; projectDir: string; pyproject: string };

export interface RequirementsSourceOptions {
    /** @default process.env.ML_LAMBDA_RESOLVE_UNLOCKED is "1" or "true" */
    resolveUnlocked?: boolean;
    exists?: (p: string) => boolean;
}

/**
 * What `requirements` points at, decided by file name: "pyproject.toml" or "uv.lock" is a uv project (its lock
 * beside its pyproject), anything else a pip requirements file. A pyproject without a lock is refused unless the
 * resolve opt-in is set; a uv.lock without its pyproject.toml is refused (uv checks a lock against it).
 */
export function requirementsSource(v: unknown, opts: RequirementsSourceOptions = {}): RequirementsSource {
    const exists = opts.exists ?? ((p: string) => fs.existsSync(p) && fs.statSync(p).isFile());
    const resolveUnlocked = opts.resolveUnlocked ?? ["1", "true"].includes(String(process.env[RESOLVE_UNLOCKED_ENV] ?? "").toLowerCase());
    if (typeof v !== "string" || v === "") {
        throw new MlLambdaError("requirements", v, "must be the path of a requirements file, a pyproject.toml or a uv.lock", 'use e.g. "./functions/embed/pyproject.toml"');
    }
    const file = path.resolve(v);
    if (!exists(file)) {
        throw new MlLambdaError("requirements", v, "must be an existing file (a requirements file, a pyproject.toml or a uv.lock)",
            "check the path (relative paths resolve from the working directory)");
    }
    const base = path.basename(file);
    if (base !== "pyproject.toml" && base !== "uv.lock") return { kind: "requirements", file };
    const projectDir = path.dirname(file);
    const pyproject = path.join(projectDir, "pyproject.toml");
    const lock = path.join(projectDir, "uv.lock");
    if (!exists(pyproject)) {
        throw new MlLambdaError("requirements", v, "a uv.lock is checked against its project's pyproject.toml, and there is none beside it",
            `point requirements at the project's pyproject.toml (uv.lock must be in the same directory), or export a requirements file: \`uv export --frozen --no-hashes -o requirements.txt\``);
    }
    if (exists(lock)) return { kind: "uv.lock", projectDir, pyproject, lock };
    if (resolveUnlocked) return { kind: "pyproject", projectDir, pyproject };
    throw new MlLambdaError("requirements", v, `${pyproject} has no uv.lock beside it: without a lock, the versions built would be whatever resolves today`,
        `run \`uv lock\` in ${projectDir} and commit uv.lock; or set ${RESOLVE_UNLOCKED_ENV}=1 to resolve at deploy time (into the build cache, your project untouched)`);
}

export function validateHandler(v: unknown, handlerDir: string): string {
    if (typeof v !== "string" || !/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$/.test(v)) {
        throw new MlLambdaError("handler", v, 'must be "module.function" (dotted module path, then the function)', 'use e.g. "app.handler.lambda_handler"');
    }
    const parts = v.split(".");
    const modulePath = path.join(handlerDir, ...parts.slice(0, -1));
    if (!fs.existsSync(modulePath + ".py") && !fs.existsSync(path.join(modulePath, "__init__.py"))) {
        throw new MlLambdaError("handler", v, `module ${parts.slice(0, -1).join(".")} is not in handlerDir (${handlerDir})`,
            `create ${path.relative(process.cwd(), modulePath)}.py, or fix handler/handlerDir`);
    }
    return v;
}

export function validateEnvironment(v: unknown): Record<string, string> {
    if (v === undefined) return {};
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
        throw new MlLambdaError("environment", v, "must be a map of names to strings", '{ "MAX_TEXTS": "128" }');
    }
    const env = v as Record<string, unknown>;
    let bytes = 0;
    for (const [k, val] of Object.entries(env)) {
        if (RESERVED_ENV.includes(k)) {
            throw new MlLambdaError(`environment.${k}`, val, "is set by the component (model location and loading)",
                k.startsWith("MODEL_") ? "use the model / modelBucket / backend arguments instead" : "remove it");
        }
        if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(k) || k.startsWith("AWS_")) {
            throw new MlLambdaError(`environment.${k}`, val, "names must start with a letter, use letters, digits and _, and not start with AWS_ (reserved by Lambda)", "rename the variable");
        }
        if (typeof val !== "string") {
            throw new MlLambdaError(`environment.${k}`, val, "values must be strings", `use "${String(val)}"`);
        }
        bytes += Buffer.byteLength(k) + Buffer.byteLength(val);
    }
    if (bytes > ENV_LIMIT_BYTES) {
        throw new MlLambdaError("environment", `${bytes} bytes`, `Lambda allows ${ENV_LIMIT_BYTES} bytes of environment variables in total`,
            "move large values to SSM Parameter Store or S3");
    }
    return env as Record<string, string>;
}

export function validateNonNegativeInt(setting: string, v: unknown, fix: string): number {
    if (!isInt(v) || v < 0) throw new MlLambdaError(setting, v, "must be a whole number ≥ 0", fix);
    return v;
}

export function validateFunctionName(v: string): string {
    if (!FUNCTION_NAME_RE.test(v)) {
        throw new MlLambdaError("functionName", v, "must be 1–64 letters, digits, hyphens or underscores", "shorten or rename it");
    }
    return v;
}

/** A deterministic function name from project, stack and component name, within Lambda's 64 characters. */
export function defaultFunctionName(project: string, stack: string, name: string): string {
    const raw = `${project}-${stack}-${name}`.replace(/[^A-Za-z0-9_-]/g, "-");
    if (raw.length <= 64) return raw;
    // Keep it unique when truncated: a short hash of the full name goes at the end.
    const hash = require("crypto").createHash("sha256").update(raw).digest("hex").slice(0, 8);
    return `${raw.slice(0, 55)}-${hash}`;
}

/** Everything the component needs, defaults applied and checked. Resource code reads only this. */
export interface NormalizedArgs {
    functionName: string;
    handlerDir: string;
    handler: string;
    requirements: string;
    dockerfile: string;
    packaging: PackagingMode;
    runtime: L.Runtime;
    architecture: L.Architecture;
    memorySize: number;
    timeout: number;
    ephemeralStorage: number;
    model: ModelSource;
    backend: Backend;
    modelBucket?: string;
    reservedConcurrency?: number;
    provisioned: NormalizedProvisioned;
    url?: NormalizedUrl;
    snapStart: boolean;
    logRetentionDays: number;
    environment: Record<string, string>;
    tags: Record<string, string>;
    layers: ExternalLayer[];
    headroomBytes: number;
    modelDelivery: ModelDelivery;
    bytecode: boolean;
    forceDestroy: boolean;
    retainData: boolean;
    imageRetentionCount: number;
    alarmActions: MlLambdaArgs["alarmActions"];
    cacheDir: string;
    warnings: string[];
}

export const DEFAULTS = {
    handler: DEFAULT_HANDLER,
    packaging: "auto" as PackagingMode,
    architecture: "x86_64" as L.Architecture,
    memorySize: L.MEMORY_ONE_VCPU_MB,
    timeout: 60,
    ephemeralStorage: L.EPHEMERAL_MIN_MB,
    backend: "onnx" as Backend,
    snapStart: false,
    logRetentionDays: 14,
    headroomBytes: L.DEFAULT_HEADROOM_BYTES,
    modelDelivery: "auto" as ModelDelivery,
    bytecode: true,
    imageRetentionCount: 10,
};

/** The build cache: ML_LAMBDA_CACHE_DIR, else `<cwd>/.ml-lambda` (ignored by the project's .gitignore). */
export function defaultCacheDir(): string {
    const env = process.env.ML_LAMBDA_CACHE_DIR;
    return env ? path.resolve(env) : path.join(process.cwd(), ".ml-lambda");
}

export interface NormalizeContext {
    project: string;
    stack: string;
}

export function normalizeArgs(name: string, args: MlLambdaArgs, ctx: NormalizeContext): NormalizedArgs {
    const bundled = bundledPython();
    const warnings: string[] = [];
    const { runtime, warning } = validateRuntime(args.runtime ?? L.DEFAULT_RUNTIME);
    if (warning) warnings.push(warning);
    const backend = validateBackend(args.backend ?? DEFAULTS.backend);
    const handlerDir = validateExistingDir("handlerDir", args.handlerDir ?? bundled.handlerDir);
    const defaultRequirements = backend === "torch" ? bundled.requirementsTorch : bundled.requirementsOnnx;
    const ephemeralStorage = validateEphemeralStorage(args.ephemeralStorage ?? DEFAULTS.ephemeralStorage);
    const reservedConcurrency = validateReservedConcurrency(args.reservedConcurrency);
    const provisioned = validateProvisionedConcurrency(args.provisionedConcurrency, reservedConcurrency);
    const snapStart = args.snapStart ?? DEFAULTS.snapStart;
    if (typeof snapStart !== "boolean") throw new MlLambdaError("snapStart", snapStart, "must be true or false", "use true or false");
    validateSnapStart(snapStart, runtime, provisioned, ephemeralStorage);
    const forceDestroy = args.forceDestroy ?? false;
    const retainData = args.retainData ?? false;
    if (forceDestroy && retainData) {
        throw new MlLambdaError("forceDestroy", true, "cannot be combined with retainData (one deletes data on destroy, the other keeps it)",
            "use forceDestroy for dev stacks and retainData for prod stacks");
    }
    if (args.modelBucket !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(args.modelBucket)) {
        throw new MlLambdaError("modelBucket", args.modelBucket, "must be an S3 bucket name (3–63 lowercase letters, digits, dots, hyphens)",
            "give the bucket's name, not its ARN or URL");
    }
    // Checked here (a missing lock fails before any build); kept as named, absolute: the build derives the project
    // and its lock from it again (packaging/lock.ts).
    const named = args.requirements ?? defaultRequirements;
    requirementsSource(named);
    const requirements = path.resolve(named);
    const url = validateUrl(args.url);
    if (url?.authType === "NONE" && reservedConcurrency === undefined) {
        warnings.push('url.authType is "NONE": anyone who finds the URL can invoke the model and run up the bill; ' +
            "set reservedConcurrency to cap how many run at once");
    }
    const headroomBytes = validateHeadroom(args.headroomBytes ?? DEFAULTS.headroomBytes);
    const packaging = validatePackaging(args.packaging ?? DEFAULTS.packaging);
    const modelDelivery = validateModelDelivery(args.modelDelivery ?? DEFAULTS.modelDelivery);
    if (packaging === "image" && modelDelivery !== "auto") {
        throw new MlLambdaError("modelDelivery", modelDelivery, 'the image path bakes the model into the image (MODEL_DIR /opt/ml/model); there is no layer or S3 fetch to choose',
            'leave modelDelivery "auto" with packaging "image", or use packaging "zip" / "auto"');
    }
    const bytecode = args.bytecode ?? DEFAULTS.bytecode;
    if (typeof bytecode !== "boolean") throw new MlLambdaError("bytecode", bytecode, "must be true or false", "use true (ship .pyc files) or false");
    const imageRetentionCount = validateNonNegativeInt("imageRetentionCount", args.imageRetentionCount ?? DEFAULTS.imageRetentionCount, "use e.g. 10");
    if (imageRetentionCount < 1) throw new MlLambdaError("imageRetentionCount", imageRetentionCount, "must keep at least 1 image (the one deployed)", "use e.g. 10");
    const tags = args.tags ?? {};
    for (const [k, v] of Object.entries(tags)) {
        if (typeof v !== "string" || k.length > 128 || v.length > 256 || k.startsWith("aws:")) {
            throw new MlLambdaError(`tags.${k}`, v, "tag keys are ≤ 128 characters and not aws:-prefixed; values are strings ≤ 256 characters", "fix the tag");
        }
    }
    return {
        functionName: validateFunctionName(args.functionName ?? defaultFunctionName(ctx.project, ctx.stack, name)),
        handlerDir,
        handler: validateHandler(args.handler ?? DEFAULTS.handler, handlerDir),
        requirements,
        dockerfile: validateExistingFile("dockerfile", args.dockerfile ?? bundled.dockerfile),
        packaging,
        runtime,
        architecture: validateArchitecture(args.architecture ?? DEFAULTS.architecture),
        memorySize: validateMemorySize(args.memorySize ?? DEFAULTS.memorySize),
        timeout: validateTimeout(args.timeout ?? DEFAULTS.timeout),
        ephemeralStorage,
        model: validateModel(args.model),
        backend,
        modelBucket: args.modelBucket,
        reservedConcurrency,
        provisioned,
        ...(url ? { url } : {}),
        snapStart,
        logRetentionDays: validateLogRetention(args.logRetentionDays ?? DEFAULTS.logRetentionDays),
        environment: validateEnvironment(args.environment),
        tags,
        layers: validateLayers(args.layers),
        headroomBytes,
        modelDelivery,
        bytecode,
        forceDestroy,
        retainData,
        imageRetentionCount,
        alarmActions: args.alarmActions ?? [],
        cacheDir: path.resolve(args.cacheDir ?? defaultCacheDir()),
        warnings,
    };
}
