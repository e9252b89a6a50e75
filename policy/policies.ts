/**
 * CrossGuard policies for ML Lambdas. Every policy is an exported constant; this module never constructs a
 * PolicyPack (that starts a gRPC server), so tests and the offline plan (policy/evaluate.ts) can import it.
 * policy/index.ts assembles `mlLambdaPolicies` into the pack for `pulumi preview --policy-pack policy`.
 *
 * Levels: AWS hard limits, security and "will not deploy / will not work" settings are mandatory; ML sizing
 * heuristics (memory and timeout minimums), an announced runtime deprecation and an unmanaged log group are
 * advisory. A stack can raise (or lower) any level in its policy config file (policy/config.prod.json raises the
 * ML minimums to mandatory and requires reserved concurrency).
 *
 * Every policy has a config schema whose properties all have defaults; `exclude` (resource logical names) is the
 * escape hatch for a resource that is deliberately different.
 *
 * Preview honesty: values computed by AWS (ARNs, ids, an image digest, policy documents built from ARNs) are
 * unknown on a first `pulumi preview`. Resource policies read only inputs known in preview, except the image
 * digest, which says it is not applicable until `pulumi up`. Stack policies relate resources through the
 * engine's property dependencies, read values with `peek`, and when an answer depends on an unknown value they
 * report not-applicable with the reason instead of guessing; `pulumi up` runs them again on real values.
 */
import * as aws from "@pulumi/aws";
import {
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    validateResourceOfType,
} from "@pulumi/policy";
import {
    ADVISORY_RUNTIMES,
    DEPRECATED_RUNTIMES,
    LOG_RETENTION_DAYS,
    MAX_LAYERS,
    MEMORY_MAX_MB,
    MEMORY_MIN_MB,
    MEMORY_ONE_VCPU_MB,
    RESERVED_CONCURRENCY_MAX,
    RUNTIMES,
    SNAPSTART_MAX_EPHEMERAL_MB,
    TIMEOUT_MAX_S,
    TIMEOUT_MIN_S,
    UNZIPPED_LIMIT_BYTES,
} from "../components/limits";
import { TAG_UNZIPPED_BYTES } from "../components/identity";
import {
    actionMatches,
    bucketFromArn,
    isBucketWideResource,
    knownStrings,
    label,
    list,
    namePrefixHeuristic,
    parseDocument,
    peek,
    resolveRef,
    S3_OBJECT_READ_ACTIONS,
    Statement,
    trustsLambda,
} from "./relate";

// ---------------------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------------------

/** Lambda's defaults when a property is not set (CreateFunction API). */
const LAMBDA_DEFAULT_MEMORY_MB = 128;
const LAMBDA_DEFAULT_TIMEOUT_S = 3;

const EXCLUDE = {
    exclude: {
        type: "array" as const,
        items: { type: "string" as const },
        default: [] as string[],
        description: "Logical names of resources this policy skips (a deliberate exception).",
    },
};

interface WithExclude {
    exclude: string[];
}

/**
 * The policy's config with schema defaults applied. The Pulumi CLI and policy/evaluate.ts both fill defaults
 * already; applying them here as well keeps a policy correct when called with hand-built args.
 */
export function configWithDefaults<T>(schema: PolicyConfigSchema, args: { getConfig<U extends object>(): U }): T {
    const defaults: Record<string, unknown> = {};
    for (const [k, s] of Object.entries(schema.properties)) {
        if (typeof s === "object" && s.default !== undefined) defaults[k] = s.default;
    }
    return { ...defaults, ...args.getConfig<Record<string, unknown>>() } as T;
}

function skipIfExcluded(args: { name: string; notApplicable(reason?: string): never }, cfg: WithExclude): void {
    if (cfg.exclude.includes(args.name)) args.notApplicable(`"${args.name}" is excluded by the policy config`);
}

const fmt = (n: number) => n.toLocaleString("en-US");

/** Lambda ARN or name -> name ("arn:aws:lambda:r:a:function:NAME[:qualifier]" -> NAME). */
function functionNameOf(value: string): string[] {
    const arn = /^arn:aws[a-zA-Z-]*:lambda:[^:]*:[^:]*:function:([^:]+)(:.*)?$/.exec(value);
    if (arn) return [arn[1], value];
    const partial = /^[^:]+:function:([^:]+)$/.exec(value); // ACCOUNT:function:NAME
    return partial ? [partial[1], value] : [value];
}

const functionKeys = (r: PolicyResource) => knownStrings(r, ["name", "arn", "id"]);
const isFunction = (r: PolicyResource) => r.isType(aws.lambda.Function);

function isZip(fn: { packageType?: string }): boolean {
    return (fn.packageType ?? "Zip") === "Zip";
}

/** Collects "can't tell before apply" reasons; if nothing definite was reported, the stack policy says why. */
class Unknowns {
    private readonly reasons: string[] = [];
    private reported = 0;
    constructor(private readonly report: ReportViolation) {}
    violation: ReportViolation = (message: string, urn?: string) => {
        this.reported++;
        this.report(message, urn);
    };
    add(...reasons: string[]): void {
        for (const r of reasons) if (!this.reasons.includes(r)) this.reasons.push(r);
    }
    finish(args: StackValidationArgs): void {
        if (this.reported === 0 && this.reasons.length > 0) {
            args.notApplicable(`cannot be decided before apply (values unknown in preview; \`pulumi up\` re-checks): ${this.reasons.join("; ")}`);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Function sizing
// ---------------------------------------------------------------------------------------------------------

const memoryLimitsSchema: PolicyConfigSchema = { properties: { ...EXCLUDE } };
export const lambdaMemoryWithinLimits: ResourceValidationPolicy = {
    name: "lambda-memory-within-limits",
    description: `Checks whether each Lambda function's memorySize is a whole number from ${fmt(MEMORY_MIN_MB)} to ${fmt(MEMORY_MAX_MB)} MB (the Lambda limits).`,
    enforcementLevel: "mandatory",
    configSchema: memoryLimitsSchema,
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        skipIfExcluded(args, configWithDefaults<WithExclude>(memoryLimitsSchema, args));
        const m = fn.memorySize ?? LAMBDA_DEFAULT_MEMORY_MB;
        if (!Number.isInteger(m) || m < MEMORY_MIN_MB || m > MEMORY_MAX_MB) {
            report(`memorySize ${m} MB is outside Lambda's ${fmt(MEMORY_MIN_MB)}-${fmt(MEMORY_MAX_MB)} MB range; set a whole number in that range (${fmt(MEMORY_ONE_VCPU_MB)} MB = one vCPU).`);
        }
    }),
};

interface MemoryMinimumConfig extends WithExclude {
    minMemoryMb: number;
}
const memoryMinimumSchema: PolicyConfigSchema = {
    properties: {
        minMemoryMb: {
            type: "integer",
            minimum: MEMORY_MIN_MB,
            maximum: MEMORY_MAX_MB,
            default: 1024,
            description: "Smallest memorySize (MB) for an ML function: 512-1,024 suits small models (all-MiniLM-L6-v2), ~3,008 medium ones.",
        },
        ...EXCLUDE,
    },
};
export const mlLambdaMemoryMinimum: ResourceValidationPolicy = {
    name: "ml-lambda-memory-minimum",
    description: "Checks whether each Lambda function has at least the configured ML memory minimum (default 1,024 MB), enough to load a model and its libraries.",
    enforcementLevel: "advisory",
    configSchema: memoryMinimumSchema,
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        const cfg = configWithDefaults<MemoryMinimumConfig>(memoryMinimumSchema, args);
        skipIfExcluded(args, cfg);
        const m = fn.memorySize ?? LAMBDA_DEFAULT_MEMORY_MB;
        if (m < cfg.minMemoryMb) {
            report(`memorySize ${fmt(m)} MB is below the ML minimum of ${fmt(cfg.minMemoryMb)} MB: the model, torch/onnxruntime and scikit-learn may not fit, and CPU scales with memory (${fmt(MEMORY_ONE_VCPU_MB)} MB = one vCPU). Raise memorySize, or lower minMemoryMb in the policy config for a smaller model.`);
        }
    }),
};

const timeoutLimitsSchema: PolicyConfigSchema = { properties: { ...EXCLUDE } };
export const lambdaTimeoutWithinLimits: ResourceValidationPolicy = {
    name: "lambda-timeout-within-limits",
    description: `Checks whether each Lambda function's timeout is a whole number of seconds from ${TIMEOUT_MIN_S} to ${TIMEOUT_MAX_S} (the Lambda limit).`,
    enforcementLevel: "mandatory",
    configSchema: timeoutLimitsSchema,
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        skipIfExcluded(args, configWithDefaults<WithExclude>(timeoutLimitsSchema, args));
        const t = fn.timeout ?? LAMBDA_DEFAULT_TIMEOUT_S;
        if (!Number.isInteger(t) || t < TIMEOUT_MIN_S || t > TIMEOUT_MAX_S) {
            report(`timeout ${t} s is outside Lambda's ${TIMEOUT_MIN_S}-${TIMEOUT_MAX_S} s range; set a whole number of seconds in that range.`);
        }
    }),
};

interface ColdLoadConfig extends WithExclude {
    minTimeoutSeconds: number;
}
const coldLoadSchema: PolicyConfigSchema = {
    properties: {
        minTimeoutSeconds: {
            type: "integer",
            minimum: TIMEOUT_MIN_S,
            maximum: TIMEOUT_MAX_S,
            default: 30,
            description: "Smallest timeout (s) that covers a cold start: downloading/extracting the model and importing the ML libraries.",
        },
        ...EXCLUDE,
    },
};
export const mlLambdaTimeoutColdLoad: ResourceValidationPolicy = {
    name: "ml-lambda-timeout-cold-load",
    description: "Checks whether each Lambda function's timeout is long enough for a cold model load (default at least 30 s).",
    enforcementLevel: "advisory",
    configSchema: coldLoadSchema,
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        const cfg = configWithDefaults<ColdLoadConfig>(coldLoadSchema, args);
        skipIfExcluded(args, cfg);
        const t = fn.timeout ?? LAMBDA_DEFAULT_TIMEOUT_S;
        if (t < cfg.minTimeoutSeconds) {
            report(`timeout ${t} s is shorter than the ${cfg.minTimeoutSeconds} s a cold model load may take (an init over 10 s is retried inside the invocation, under this timeout). Raise timeout, or lower minTimeoutSeconds in the policy config.`);
        }
    }),
};

// ---------------------------------------------------------------------------------------------------------
// Runtime
// ---------------------------------------------------------------------------------------------------------

interface RuntimeConfig extends WithExclude {
    asOf: string;
}
const runtimeSchema: PolicyConfigSchema = {
    properties: {
        asOf: {
            type: "string",
            default: "",
            pattern: "^$|^\\d{4}-\\d{2}-\\d{2}$",
            description: "Date (YYYY-MM-DD) deprecations are judged at; empty = today.",
        },
        ...EXCLUDE,
    },
};

function today(cfg: RuntimeConfig): string {
    return cfg.asOf || new Date().toISOString().slice(0, 10);
}

/** Zip functions carry a runtime; image functions carry it inside the image (not visible to a policy). */
function runtimeOrSkip(fn: { packageType?: string; runtime?: string }, args: { notApplicable(reason?: string): never }): string {
    if (!isZip(fn)) args.notApplicable("container image functions carry their runtime in the image (python/Dockerfile's base image)");
    if (!fn.runtime) args.notApplicable("the function sets no runtime");
    return fn.runtime!;
}

export const lambdaRuntimeNotDeprecated: ResourceValidationPolicy = {
    name: "lambda-runtime-not-deprecated",
    description: "Checks whether each zip Lambda function uses a Python runtime that Lambda has not deprecated (python3.9 and python3.10 are refused).",
    enforcementLevel: "mandatory",
    configSchema: runtimeSchema,
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        const cfg = configWithDefaults<RuntimeConfig>(runtimeSchema, args);
        skipIfExcluded(args, cfg);
        const runtime = runtimeOrSkip(fn, args);
        const facts = RUNTIMES[runtime];
        const py = /^python(\d+)\.(\d+)$/.exec(runtime);
        if (!facts && !py) args.notApplicable(`runtime ${runtime}: this pack knows Python runtimes only`);
        // Older than anything in limits.ts (python2.7, python3.8 and before): long deprecated.
        const ancient = !facts && !!py && (Number(py[1]) < 3 || Number(py[2]) < 9);
        const deprecation = facts?.deprecation;
        if (DEPRECATED_RUNTIMES.includes(runtime) || ancient || (deprecation !== undefined && deprecation <= today(cfg))) {
            report(`runtime ${runtime} is deprecated${deprecation ? ` since ${deprecation}` : ""}: Lambda stops patching it and then blocks creates and updates. Use python3.12 or newer (SnapStart capable, Amazon Linux 2023).`);
        }
    }),
};

export const lambdaRuntimeDeprecationApproaching: ResourceValidationPolicy = {
    name: "lambda-runtime-deprecation-approaching",
    description: "Checks whether each zip Lambda function's Python runtime has an announced deprecation date still ahead (python3.11: 2027-06-30).",
    enforcementLevel: "advisory",
    configSchema: runtimeSchema,
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        const cfg = configWithDefaults<RuntimeConfig>(runtimeSchema, args);
        skipIfExcluded(args, cfg);
        const runtime = runtimeOrSkip(fn, args);
        const deprecation = RUNTIMES[runtime]?.deprecation;
        const ahead = deprecation !== undefined && deprecation > today(cfg);
        if (ahead || (ADVISORY_RUNTIMES.includes(runtime) && deprecation === undefined)) {
            report(`runtime ${runtime} is deprecated on ${deprecation ?? "an announced date"}; it runs on Amazon Linux 2 and cannot use SnapStart. Plan a move to python3.12 or newer.`);
        }
    }),
};

// ---------------------------------------------------------------------------------------------------------
// SnapStart
// ---------------------------------------------------------------------------------------------------------

function snapStartOn(fn: { snapStart?: { applyOn?: string } }): boolean {
    const on = fn.snapStart?.applyOn;
    return on !== undefined && on !== "None";
}

const snapStartSchema: PolicyConfigSchema = { properties: { ...EXCLUDE } };
export const lambdaSnapStartCompatible: ResourceValidationPolicy = {
    name: "lambda-snapstart-compatible",
    description: `Checks whether each Lambda function with SnapStart meets its conditions: python3.12+, published versions, no EFS, /tmp at most ${SNAPSTART_MAX_EPHEMERAL_MB} MB.`,
    enforcementLevel: "mandatory",
    configSchema: snapStartSchema,
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        skipIfExcluded(args, configWithDefaults<WithExclude>(snapStartSchema, args));
        if (!snapStartOn(fn)) args.notApplicable("SnapStart is off");
        if (isZip(fn) && fn.runtime) {
            const facts = RUNTIMES[fn.runtime];
            if (fn.runtime.startsWith("python") && !facts?.snapStart) {
                report(`SnapStart needs python3.12 or newer; runtime is ${fn.runtime}. Upgrade the runtime or turn snapStart off.`);
            }
        }
        const tmp = fn.ephemeralStorage?.size ?? SNAPSTART_MAX_EPHEMERAL_MB;
        if (tmp > SNAPSTART_MAX_EPHEMERAL_MB) {
            report(`SnapStart cannot be combined with ephemeral storage above ${SNAPSTART_MAX_EPHEMERAL_MB} MB (ephemeralStorage.size is ${fmt(tmp)}). Use ${SNAPSTART_MAX_EPHEMERAL_MB} MB or turn snapStart off.`);
        }
        if (fn.fileSystemConfig) report("SnapStart cannot be combined with an EFS file system (fileSystemConfig). Remove one of them.");
        if (fn.publish !== true) {
            report("SnapStart only applies to published versions, but publish is not true: the function would run without it. Set publish: true and invoke a version or alias.");
        }
    }),
};

interface ProvisionedUse {
    resource: PolicyResource;
    /** Static count, or the auto scaling maximum. */
    max?: number;
    kind: "static" | "autoscaling";
}

/**
 * Provisioned concurrency (static configs and Application Auto Scaling targets) per function, plus the ones that
 * cannot be related to a function before apply.
 */
function provisionedByFunction(resources: PolicyResource[]): { byFunction: Map<PolicyResource, ProvisionedUse[]>; unresolved: string[] } {
    const functions = resources.filter(isFunction);
    const byFunction = new Map<PolicyResource, ProvisionedUse[]>();
    const unresolved: string[] = [];
    const add = (fn: PolicyResource, use: ProvisionedUse) => byFunction.set(fn, [...(byFunction.get(fn) ?? []), use]);
    for (const r of resources) {
        if (r.isType(aws.lambda.ProvisionedConcurrencyConfig)) {
            const ref = resolveRef(r, "functionName", functions, { keys: functionKeys, normalize: functionNameOf });
            const count = peek<number>(r.props, "provisionedConcurrentExecutions");
            if (ref.kind === "resolved") add(ref.target, { resource: r, max: count.known ? count.value : undefined, kind: "static" });
            else if (ref.kind === "unknown") unresolved.push(`which function ${label(r)} configures (${ref.path})`);
        } else if (r.isType(aws.appautoscaling.Target)) {
            const dim = peek<string>(r.props, "scalableDimension");
            if (!dim.known) {
                unresolved.push(`${label(r)}.scalableDimension`);
                continue;
            }
            if (dim.value !== "lambda:function:ProvisionedConcurrency") continue;
            const ref = resolveRef(r, "resourceId", functions, {
                keys: functionKeys,
                // "function:NAME:QUALIFIER"
                normalize: (v) => {
                    const m = /^function:(.+):[^:]+$/.exec(v);
                    return m ? functionNameOf(m[1]) : [];
                },
            });
            const max = peek<number>(r.props, "maxCapacity");
            if (ref.kind === "resolved") add(ref.target, { resource: r, max: max.known ? max.value : undefined, kind: "autoscaling" });
            else if (ref.kind === "unknown") unresolved.push(`which function ${label(r)} scales (${ref.path})`);
        }
    }
    return { byFunction, unresolved };
}

const snapStartProvisionedSchema: PolicyConfigSchema = { properties: { ...EXCLUDE } };
export const lambdaSnapStartWithoutProvisionedConcurrency: StackValidationPolicy = {
    name: "lambda-snapstart-without-provisioned-concurrency",
    description: "Checks whether no Lambda function with SnapStart also has provisioned concurrency (a ProvisionedConcurrencyConfig or an Application Auto Scaling target): Lambda refuses the combination.",
    enforcementLevel: "mandatory",
    configSchema: snapStartProvisionedSchema,
    validateStack: (args, report) => {
        const cfg = configWithDefaults<WithExclude>(snapStartProvisionedSchema, args);
        const functions = args.resources.filter(isFunction).filter((f) => !cfg.exclude.includes(f.name));
        if (functions.length === 0) args.notApplicable("no Lambda functions in the stack");
        const unknowns = new Unknowns(report);
        const { byFunction, unresolved } = provisionedByFunction(args.resources);
        for (const fn of functions) {
            const snap = peek<{ applyOn?: string }>(fn.props, "snapStart");
            if (!snap.known) {
                if ((byFunction.get(fn) ?? []).length > 0 || unresolved.length > 0) unknowns.add(`${label(fn)}.snapStart`);
                continue;
            }
            if (!snapStartOn({ snapStart: snap.value })) continue;
            const uses = byFunction.get(fn) ?? [];
            for (const use of uses) {
                unknowns.violation(
                    `${label(fn)} has SnapStart and ${use.kind === "static" ? "provisioned concurrency" : "auto-scaled provisioned concurrency"} (${label(use.resource)}); Lambda does not allow both on one function. Choose one: SnapStart for cheaper cold starts, provisioned concurrency for none.`,
                    fn.urn,
                );
            }
            if (uses.length === 0) for (const u of unresolved) unknowns.add(u);
        }
        unknowns.finish(args);
    },
};

// ---------------------------------------------------------------------------------------------------------
// Packaging
// ---------------------------------------------------------------------------------------------------------

interface LayersConfig extends WithExclude {
    maxLayers: number;
}
const layersSchema: PolicyConfigSchema = {
    properties: {
        maxLayers: { type: "integer", minimum: 0, maximum: MAX_LAYERS, default: MAX_LAYERS, description: `Most layers a function may use (Lambda allows ${MAX_LAYERS}).` },
        ...EXCLUDE,
    },
};
export const lambdaMaxLayers: ResourceValidationPolicy = {
    name: "lambda-max-layers",
    description: `Checks whether each Lambda function uses at most ${MAX_LAYERS} layers, and container image functions none.`,
    enforcementLevel: "mandatory",
    configSchema: layersSchema,
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        const cfg = configWithDefaults<LayersConfig>(layersSchema, args);
        skipIfExcluded(args, cfg);
        const n = fn.layers?.length ?? 0;
        if (!isZip(fn) && n > 0) report(`container image functions cannot use layers (${n} given): put the dependencies in the image.`);
        else if (n > cfg.maxLayers) report(`${n} layers exceed the limit of ${cfg.maxLayers}; merge layers (the component builds one dependency layer) or use the image path.`);
    }),
};

interface UnzippedConfig extends WithExclude {
    maxUnzippedBytes: number;
    requireMeasurement: boolean;
}
const unzippedSchema: PolicyConfigSchema = {
    properties: {
        maxUnzippedBytes: {
            type: "integer",
            minimum: 0,
            maximum: UNZIPPED_LIMIT_BYTES,
            default: UNZIPPED_LIMIT_BYTES,
            description: `Largest measured code + layers size, unzipped (Lambda: ${fmt(UNZIPPED_LIMIT_BYTES)} bytes).`,
        },
        requireMeasurement: {
            type: "boolean",
            default: false,
            description: `Treat a zip function without the "${TAG_UNZIPPED_BYTES}" tag as a violation (default: not applicable).`,
        },
        ...EXCLUDE,
    },
};
export const lambdaUnzippedSizeWithinLimit: ResourceValidationPolicy = {
    name: "lambda-unzipped-size-within-limit",
    description: `Checks whether each zip Lambda function's measured unzipped size of code + all layers (the "${TAG_UNZIPPED_BYTES}" tag set by MlLambda) is within ${fmt(UNZIPPED_LIMIT_BYTES)} bytes.`,
    enforcementLevel: "mandatory",
    configSchema: unzippedSchema,
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        const cfg = configWithDefaults<UnzippedConfig>(unzippedSchema, args);
        skipIfExcluded(args, cfg);
        if (!isZip(fn)) args.notApplicable("container image functions are limited by image size (10 GB), not the unzipped limit");
        const tag = fn.tags?.[TAG_UNZIPPED_BYTES];
        if (tag === undefined) {
            if (cfg.requireMeasurement) report(`the function has no "${TAG_UNZIPPED_BYTES}" tag: its unzipped size was not measured. Deploy it with MlLambda, or set the tag from a measurement.`);
            else args.notApplicable(`no "${TAG_UNZIPPED_BYTES}" tag (not measured by MlLambda)`);
            return;
        }
        const bytes = Number(tag);
        if (!/^\d+$/.test(String(tag)) || !Number.isSafeInteger(bytes)) {
            report(`the "${TAG_UNZIPPED_BYTES}" tag is "${tag}", not a byte count.`);
        } else if (bytes > cfg.maxUnzippedBytes) {
            report(`code + layers measure ${fmt(bytes)} bytes unzipped, over the ${fmt(cfg.maxUnzippedBytes)}-byte limit (AWS: "Function code combined with layers exceeds the maximum allowed size of ${UNZIPPED_LIMIT_BYTES} bytes"). Use packaging "image", or slim the dependencies (e.g. the onnx backend).`);
        }
    }),
};

const digestSchema: PolicyConfigSchema = { properties: { ...EXCLUDE } };
export const lambdaImagePinnedByDigest: ResourceValidationPolicy = {
    name: "lambda-image-pinned-by-digest",
    description: "Checks whether each container image Lambda function references its image by digest (imageUri contains \"@sha256:\"), never by a movable tag.",
    enforcementLevel: "mandatory",
    configSchema: digestSchema,
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        skipIfExcluded(args, configWithDefaults<WithExclude>(digestSchema, args));
        if (isZip(fn)) args.notApplicable("zip function");
        const uri = peek<string>(args.props, "imageUri");
        if (!uri.known) args.notApplicable("imageUri is computed by the image push and unknown in preview; `pulumi up` checks it before the function is written");
        const value = (uri as { value: string }).value;
        if (!value || !/@sha256:[0-9a-f]{64}$/.test(value)) {
            report(`imageUri "${value ?? ""}" is not pinned by digest: a tag can be moved, so a redeploy or rollback may run a different image. Use repo@sha256:<digest> (docker.Image.repoDigest).`);
        }
    }),
};

const ecrSchema: PolicyConfigSchema = { properties: { ...EXCLUDE } };
export const ecrScanOnPush: ResourceValidationPolicy = {
    name: "ecr-scan-on-push",
    description: "Checks whether each ECR repository scans images on push (imageScanningConfiguration.scanOnPush).",
    enforcementLevel: "mandatory",
    configSchema: ecrSchema,
    validateResource: validateResourceOfType(aws.ecr.Repository, (repo, args, report) => {
        skipIfExcluded(args, configWithDefaults<WithExclude>(ecrSchema, args));
        if (repo.imageScanningConfiguration?.scanOnPush !== true) {
            report("the repository does not scan images on push: set imageScanningConfiguration: { scanOnPush: true } so known CVEs in the ML stack's wheels are reported.");
        }
    }),
};

interface ImmutableConfig extends WithExclude {
    allowExclusions: boolean;
}
const immutableSchema: PolicyConfigSchema = {
    properties: {
        allowExclusions: { type: "boolean", default: false, description: "Accept IMMUTABLE_WITH_EXCLUSION (some tags stay mutable)." },
        ...EXCLUDE,
    },
};
export const ecrImmutableTags: ResourceValidationPolicy = {
    name: "ecr-immutable-tags",
    description: "Checks whether each ECR repository has immutable image tags (imageTagMutability IMMUTABLE).",
    enforcementLevel: "mandatory",
    configSchema: immutableSchema,
    validateResource: validateResourceOfType(aws.ecr.Repository, (repo, args, report) => {
        const cfg = configWithDefaults<ImmutableConfig>(immutableSchema, args);
        skipIfExcluded(args, cfg);
        const m = repo.imageTagMutability ?? "MUTABLE";
        const ok = m === "IMMUTABLE" || (cfg.allowExclusions && m === "IMMUTABLE_WITH_EXCLUSION");
        if (!ok) report(`imageTagMutability is ${m}: a pushed tag can be overwritten. Set imageTagMutability: "IMMUTABLE".`);
    }),
};

// ---------------------------------------------------------------------------------------------------------
// Model bucket (aws v7: the bucket and each of its settings are separate resources)
// ---------------------------------------------------------------------------------------------------------

const isBucket = (r: PolicyResource) => r.isType(aws.s3.Bucket) || r.isType(aws.s3.BucketV2);
const bucketKeys = (b: PolicyResource) => {
    const keys = knownStrings(b, ["id", "bucket", "arn"]);
    return [...keys, ...keys.map((k) => bucketFromArn(k)).filter((k): k is string => !!k)];
};

/**
 * The bucket-setting resources of each bucket, and the settings whose bucket cannot be told before apply. A
 * setting whose bucket reference is known to point outside the stack is ignored.
 */
function settingsOf(args: StackValidationArgs, buckets: PolicyResource[], isSetting: (r: PolicyResource) => boolean) {
    const map = new Map<PolicyResource, PolicyResource[]>(buckets.map((b) => [b, []]));
    const unresolved: string[] = [];
    for (const r of args.resources.filter(isSetting)) {
        const ref = resolveRef(r, "bucket", buckets, { keys: bucketKeys, heuristic: namePrefixHeuristic });
        if (ref.kind === "resolved") map.get(ref.target)?.push(r);
        else if (ref.kind === "unknown") unresolved.push(`which bucket ${label(r)} applies to (${ref.path})`);
    }
    return { of: (b: PolicyResource) => map.get(b) ?? [], unresolved };
}

function bucketsOrSkip(args: StackValidationArgs, cfg: WithExclude): PolicyResource[] {
    const buckets = args.resources.filter(isBucket);
    if (buckets.length === 0) args.notApplicable("no S3 buckets in the stack (an existing modelBucket is managed elsewhere)");
    return buckets.filter((b) => !cfg.exclude.includes(b.name));
}

/**
 * Runs one check per bucket. A failing bucket whose answer depended on unknown values is reported as undecided
 * (not a violation); a passing bucket ignores unknowns that did not matter.
 */
function perBucket(
    args: StackValidationArgs,
    report: ReportViolation,
    buckets: PolicyResource[],
    unresolved: string[],
    check: (b: PolicyResource, unknown: (what: string) => void) => string | undefined,
): void {
    const unknowns = new Unknowns(report);
    for (const b of buckets) {
        const local: string[] = [];
        const problem = check(b, (what) => local.push(what));
        if (problem === undefined) continue;
        if (local.length > 0 || unresolved.length > 0) unknowns.add(...local, ...unresolved);
        else unknowns.violation(problem, b.urn);
    }
    unknowns.finish(args);
}

interface EncryptionConfig extends WithExclude {
    requireKms: boolean;
}
const encryptionSchema: PolicyConfigSchema = {
    properties: {
        requireKms: { type: "boolean", default: false, description: "Require SSE-KMS (aws:kms or aws:kms:dsse) instead of accepting SSE-S3 (AES256)." },
        ...EXCLUDE,
    },
};
export const modelBucketEncrypted: StackValidationPolicy = {
    name: "model-bucket-encrypted",
    description: "Checks whether each S3 bucket has an explicit default server-side encryption configuration (a BucketServerSideEncryptionConfiguration for it).",
    enforcementLevel: "mandatory",
    configSchema: encryptionSchema,
    validateStack: (args, report) => {
        const cfg = configWithDefaults<EncryptionConfig>(encryptionSchema, args);
        const buckets = bucketsOrSkip(args, cfg);
        const sse = settingsOf(args, buckets, (r) => r.isType(aws.s3.BucketServerSideEncryptionConfiguration) || r.isType(aws.s3.BucketServerSideEncryptionConfigurationV2));
        const accepted = cfg.requireKms ? ["aws:kms", "aws:kms:dsse"] : ["AES256", "aws:kms", "aws:kms:dsse"];
        perBucket(args, report, buckets, sse.unresolved, (b, unknown) => {
            const algorithms: string[] = [];
            const inline = peek<string>(b.props, "serverSideEncryptionConfiguration", "rule", "applyServerSideEncryptionByDefault", "sseAlgorithm");
            if (!inline.known) unknown(`${label(b)}.serverSideEncryptionConfiguration`);
            else if (inline.value) algorithms.push(inline.value);
            for (const s of sse.of(b)) {
                const rules = peek<Array<{ applyServerSideEncryptionByDefault?: { sseAlgorithm?: string } }>>(s.props, "rules");
                if (!rules.known) unknown(`${label(s)}.rules`);
                else for (const rule of rules.value ?? []) {
                    const alg = rule?.applyServerSideEncryptionByDefault?.sseAlgorithm;
                    if (alg) algorithms.push(alg);
                }
            }
            if (algorithms.some((a) => accepted.includes(a))) return undefined;
            const found = algorithms.length ? `found ${algorithms.join(", ")}` : "none found";
            return `${label(b)} has no default encryption with ${accepted.join(" / ")} (${found}). Add an aws.s3.BucketServerSideEncryptionConfiguration for it.`;
        });
    },
};

const versionedSchema: PolicyConfigSchema = { properties: { ...EXCLUDE } };
export const modelBucketVersioned: StackValidationPolicy = {
    name: "model-bucket-versioned",
    description: "Checks whether each S3 bucket has versioning Enabled (a BucketVersioning for it), so a model archive cannot be silently overwritten or lost.",
    enforcementLevel: "mandatory",
    configSchema: versionedSchema,
    validateStack: (args, report) => {
        const cfg = configWithDefaults<WithExclude>(versionedSchema, args);
        const buckets = bucketsOrSkip(args, cfg);
        const versioning = settingsOf(args, buckets, (r) => r.isType(aws.s3.BucketVersioning) || r.isType(aws.s3.BucketVersioningV2));
        perBucket(args, report, buckets, versioning.unresolved, (b, unknown) => {
            const inline = peek<boolean>(b.props, "versioning", "enabled");
            if (!inline.known) unknown(`${label(b)}.versioning`);
            else if (inline.value === true) return undefined;
            const states: string[] = [];
            for (const v of versioning.of(b)) {
                const status = peek<string>(v.props, "versioningConfiguration", "status");
                if (!status.known) unknown(`${label(v)}.versioningConfiguration.status`);
                else if (status.value === "Enabled") return undefined;
                else states.push(String(status.value));
            }
            return `${label(b)} is not versioned${states.length ? ` (status ${states.join(", ")})` : ""}. Add an aws.s3.BucketVersioning with versioningConfiguration.status "Enabled".`;
        });
    },
};

const PAB_FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"] as const;

/** Which of the four public access block flags are not true (and which cannot be read yet). */
function flagsOff(r: PolicyResource): { off: string[]; unknown: string[] } {
    const off: string[] = [];
    const unknown: string[] = [];
    for (const f of PAB_FLAGS) {
        const v = peek<boolean>(r.props, f);
        if (!v.known) unknown.push(`${label(r)}.${f}`);
        else if (v.value !== true) off.push(f);
    }
    return { off, unknown };
}

interface PublicAccessConfig extends WithExclude {
    acceptAccountLevelBlock: boolean;
}
const publicAccessSchema: PolicyConfigSchema = {
    properties: {
        acceptAccountLevelBlock: { type: "boolean", default: true, description: "Accept an AccountPublicAccessBlock in the same stack with all four flags on." },
        ...EXCLUDE,
    },
};
export const modelBucketPublicAccessBlocked: StackValidationPolicy = {
    name: "model-bucket-public-access-blocked",
    description: "Checks whether each S3 bucket has public access fully blocked: a BucketPublicAccessBlock with all four flags true, and no public canned ACL.",
    enforcementLevel: "mandatory",
    configSchema: publicAccessSchema,
    validateStack: (args, report) => {
        const cfg = configWithDefaults<PublicAccessConfig>(publicAccessSchema, args);
        const buckets = bucketsOrSkip(args, cfg);
        const blocks = settingsOf(args, buckets, (r) => r.isType(aws.s3.BucketPublicAccessBlock));
        const accountBlocked = cfg.acceptAccountLevelBlock && args.resources
            .filter((r) => r.isType(aws.s3.AccountPublicAccessBlock))
            .some((r) => {
                const f = flagsOff(r);
                return f.off.length === 0 && f.unknown.length === 0;
            });
        perBucket(args, report, buckets, blocks.unresolved, (b, unknown) => {
            const acl = peek<string>(b.props, "acl");
            if (!acl.known) unknown(`${label(b)}.acl`);
            else if (["public-read", "public-read-write", "authenticated-read"].includes(String(acl.value))) {
                return `${label(b)} has the canned ACL "${acl.value}". Remove acl (BucketOwnerEnforced ownership disables ACLs).`;
            }
            if (accountBlocked) return undefined;
            const mine = blocks.of(b);
            if (mine.length === 0) {
                return `${label(b)} has no public access block. Add an aws.s3.BucketPublicAccessBlock with ${PAB_FLAGS.join(", ")} all true.`;
            }
            const results = mine.map(flagsOff);
            if (results.some((r) => r.off.length === 0 && r.unknown.length === 0)) return undefined;
            for (const r of results) r.unknown.forEach(unknown);
            return `${label(b)}'s public access block is not complete: ${[...new Set(results.flatMap((r) => r.off))].join(", ")} must be true.`;
        });
    },
};

/** Whether a statement list denies every non-TLS request to the bucket's objects. */
export function deniesInsecureTransport(statements: Statement[]): boolean {
    return statements.some((s) => {
        if (s.Effect !== "Deny") return false;
        const p = s.Principal as any;
        const everyone = p === "*" || (p && typeof p === "object" && list(p.AWS).includes("*"));
        const allActions = list(s.Action).some((a) => a === "*" || a.toLowerCase() === "s3:*");
        const objects = list(s.Resource).some((r) => r === "*" || r.endsWith("/*"));
        const cond = s.Condition?.Bool?.["aws:SecureTransport"];
        const insecure = cond === false || cond === "false" || (Array.isArray(cond) && cond.map(String).includes("false"));
        return everyone && allActions && objects && insecure;
    });
}

const tlsSchema: PolicyConfigSchema = { properties: { ...EXCLUDE } };
export const modelBucketTlsOnly: StackValidationPolicy = {
    name: "model-bucket-tls-only",
    description: "Checks whether each S3 bucket's policy denies every request not made over TLS (Deny s3:* on its objects when aws:SecureTransport is false).",
    enforcementLevel: "mandatory",
    configSchema: tlsSchema,
    validateStack: (args, report) => {
        const cfg = configWithDefaults<WithExclude>(tlsSchema, args);
        const buckets = bucketsOrSkip(args, cfg);
        const policies = settingsOf(args, buckets, (r) => r.isType(aws.s3.BucketPolicy));
        perBucket(args, report, buckets, policies.unresolved, (b, unknown) => {
            const docs: unknown[] = [];
            const inline = peek(b.props, "policy");
            if (!inline.known) unknown(`${label(b)}.policy`);
            else if (inline.value) docs.push(inline.value);
            for (const p of policies.of(b)) {
                const doc = peek(p.props, "policy");
                if (!doc.known) unknown(`${label(p)}.policy`);
                else docs.push(doc.value);
            }
            const ok = docs.some((d) => {
                const parsed = parseDocument(d);
                return parsed.ok && deniesInsecureTransport(parsed.statements);
            });
            if (ok) return undefined;
            return `${label(b)} accepts plain-HTTP requests: add an aws.s3.BucketPolicy with a Deny of s3:* on the bucket and its objects when "aws:SecureTransport" is "false".`;
        });
    },
};

// ---------------------------------------------------------------------------------------------------------
// Least privilege for function roles
// ---------------------------------------------------------------------------------------------------------

export const DEFAULT_DENIED_MANAGED_POLICIES = [
    "AdministratorAccess",
    "PowerUserAccess",
    "ReadOnlyAccess",
    "AmazonS3FullAccess",
    "AmazonS3ReadOnlyAccess",
    "AWSLambdaExecute",
    "AWSLambda_FullAccess",
    "AWSLambda_ReadOnlyAccess",
];

interface LeastPrivilegeConfig extends WithExclude {
    deniedManagedPolicies: string[];
    allowedWildcardActions: string[];
}
const leastPrivilegeSchema: PolicyConfigSchema = {
    properties: {
        deniedManagedPolicies: {
            type: "array",
            items: { type: "string" },
            default: DEFAULT_DENIED_MANAGED_POLICIES,
            description: "AWS managed policies (by name) a function role must not have: each grants wildcard actions or reads every bucket.",
        },
        allowedWildcardActions: {
            type: "array",
            items: { type: "string" },
            default: [],
            description: 'Wildcard actions accepted anyway, exactly as written (e.g. "xray:Put*").',
        },
        ...EXCLUDE,
    },
};

/** Problems of one policy document for a function role. */
export function leastPrivilegeProblems(doc: unknown, allowedWildcards: string[] = []): string[] {
    const parsed = parseDocument(doc);
    if (!parsed.ok) return [`its policy document cannot be read: ${parsed.error}`];
    const problems: string[] = [];
    for (const s of parsed.statements) {
        if ((s.Effect ?? "Allow") !== "Allow") continue;
        const sid = s.Sid ? ` (statement "${s.Sid}")` : "";
        if (s.NotAction !== undefined) problems.push(`Allow with NotAction grants every other action${sid}`);
        const actions = list(s.Action);
        for (const a of actions) {
            if (a.includes("*") && !allowedWildcards.includes(a)) problems.push(`action "${a}" is a wildcard${sid}`);
        }
        const reads = actions.some((a) => S3_OBJECT_READ_ACTIONS.some((r) => actionMatches(a, r)));
        if (reads) {
            if (s.NotResource !== undefined) problems.push(`S3 read with NotResource covers every bucket${sid}`);
            for (const r of list(s.Resource)) {
                if (isBucketWideResource(r)) problems.push(`S3 read on "${r}" reaches every object, not the model archive${sid}`);
            }
        }
    }
    return problems;
}

export const lambdaRoleLeastPrivilege: StackValidationPolicy = {
    name: "lambda-role-least-privilege",
    description: "Checks whether Lambda function roles avoid wildcard actions and bucket-wide S3 reads, in inline policies, RolePolicy resources, customer policies and AWS managed policies (e.g. AmazonS3ReadOnlyAccess).",
    enforcementLevel: "mandatory",
    configSchema: leastPrivilegeSchema,
    validateStack: (args, report) => {
        const cfg = configWithDefaults<LeastPrivilegeConfig>(leastPrivilegeSchema, args);
        const unknowns = new Unknowns(report);
        const roles = args.resources.filter((r) => r.isType(aws.iam.Role));
        const roleKeys = (r: PolicyResource) => knownStrings(r, ["name", "id", "arn"]);
        // Function roles: trusted by Lambda, or used by a function in the stack.
        const lambdaRoles = new Set<PolicyResource>();
        for (const role of roles) {
            const trust = peek(role.props, "assumeRolePolicy");
            if (trust.known && trustsLambda(trust.value)) lambdaRoles.add(role);
        }
        for (const fn of args.resources.filter(isFunction)) {
            const ref = resolveRef(fn, "role", roles, { keys: roleKeys });
            if (ref.kind === "resolved") lambdaRoles.add(ref.target);
        }
        const checked = [...lambdaRoles].filter((r) => !cfg.exclude.includes(r.name));
        const refersToFunctionRole = (from: PolicyResource, prop: string): { relevant: boolean; role?: PolicyResource } => {
            const ref = resolveRef(from, prop, roles, { keys: roleKeys });
            if (ref.kind === "resolved") return { relevant: checked.includes(ref.target), role: ref.target };
            // A role outside the stack, or one we cannot relate yet: check conservatively (this pack is for
            // ML Lambda stacks, where such policies are function-role policies).
            return { relevant: true };
        };
        const relevantPolicies = args.resources.some((r) => r.isType(aws.iam.RolePolicy) || r.isType(aws.iam.RolePolicyAttachment) || r.isType(aws.iam.PolicyAttachment));
        if (checked.length === 0 && !relevantPolicies) args.notApplicable("no Lambda function roles in the stack");

        const flag = (target: PolicyResource, role: PolicyResource | undefined, problems: string[]) => {
            const whose = role ? label(role) : "a function role";
            for (const p of problems) unknowns.violation(`${label(target)} on ${whose}: ${p}.`, target.urn);
        };
        const customerPolicies = args.resources.filter((r) => r.isType(aws.iam.Policy));
        const checkManaged = (target: PolicyResource, role: PolicyResource | undefined, arnProp: string, arnValue?: string) => {
            const arn = arnValue !== undefined ? { known: true as const, value: arnValue } : peek<string>(target.props, arnProp);
            const custom = arnValue === undefined ? resolveRef(target, arnProp, customerPolicies, { keys: (p) => knownStrings(p, ["arn", "id"]) }) : undefined;
            if (custom?.kind === "resolved") {
                const doc = peek(custom.target.props, "policy");
                if (!doc.known) unknowns.add(`${label(custom.target)}.policy`);
                else flag(target, role, leastPrivilegeProblems(doc.value, cfg.allowedWildcardActions).map((p) => `${label(custom.target)}: ${p}`));
                return;
            }
            if (!arn.known) {
                unknowns.add(`${label(target)}.${arnProp}`);
                return;
            }
            const name = String(arn.value ?? "").split("/").pop() ?? "";
            if (/:iam::aws:policy\//.test(String(arn.value)) && cfg.deniedManagedPolicies.includes(name)) {
                flag(target, role, [`the AWS managed policy ${name} grants wildcard actions or reads every bucket; grant the function only its own log group and model object`]);
            }
        };

        for (const role of checked) {
            const inline = peek<Array<{ name?: string; policy?: unknown }>>(role.props, "inlinePolicies");
            if (!inline.known) unknowns.add(`${label(role)}.inlinePolicies`);
            else for (const ip of inline.value ?? []) {
                if (ip?.policy) flag(role, role, leastPrivilegeProblems(ip.policy, cfg.allowedWildcardActions).map((p) => `inline policy "${ip.name ?? ""}": ${p}`));
            }
            const managed = peek<string[]>(role.props, "managedPolicyArns");
            if (!managed.known) unknowns.add(`${label(role)}.managedPolicyArns`);
            else for (const arn of managed.value ?? []) checkManaged(role, role, "managedPolicyArns", arn);
        }
        for (const r of args.resources) {
            if (r.isType(aws.iam.RolePolicy)) {
                const { relevant, role } = refersToFunctionRole(r, "role");
                if (!relevant) continue;
                const doc = peek(r.props, "policy");
                if (!doc.known) unknowns.add(`${label(r)}.policy`);
                else flag(r, role, leastPrivilegeProblems(doc.value, cfg.allowedWildcardActions));
            } else if (r.isType(aws.iam.RolePolicyAttachment)) {
                const { relevant, role } = refersToFunctionRole(r, "role");
                if (relevant) checkManaged(r, role, "policyArn");
            } else if (r.isType(aws.iam.PolicyAttachment)) {
                const deps = r.propertyDependencies?.roles ?? [];
                const names = peek<string[]>(r.props, "roles");
                const byDep = deps.filter((d) => roles.some((x) => x.urn === d.urn));
                const byName = names.known ? roles.filter((x) => roleKeys(x).some((k) => (names.value ?? []).includes(k))) : [];
                const related = [...byDep, ...byName];
                const external = names.known && (names.value ?? []).some((n) => !roles.some((x) => roleKeys(x).includes(n)));
                if (related.some((x) => checked.some((c) => c.urn === x.urn)) || (related.length === 0 && (external || !names.known))) {
                    checkManaged(r, undefined, "policyArn");
                }
            }
        }
        unknowns.finish(args);
    },
};

// ---------------------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------------------

interface RetentionConfig extends WithExclude {
    minRetentionDays: number;
    maxRetentionDays: number;
}
const retentionSchema: PolicyConfigSchema = {
    properties: {
        minRetentionDays: { type: "integer", minimum: 1, default: 1, description: "Shortest acceptable retention (days)." },
        maxRetentionDays: { type: "integer", minimum: 1, default: 3653, description: "Longest acceptable retention (days)." },
        ...EXCLUDE,
    },
};
export const cloudwatchLogGroupRetention: ResourceValidationPolicy = {
    name: "cloudwatch-log-group-retention",
    description: "Checks whether each CloudWatch log group has a retention (retentionInDays set to a value CloudWatch accepts, within the configured range), so logs do not accumulate forever.",
    enforcementLevel: "mandatory",
    configSchema: retentionSchema,
    validateResource: validateResourceOfType(aws.cloudwatch.LogGroup, (lg, args, report) => {
        const cfg = configWithDefaults<RetentionConfig>(retentionSchema, args);
        skipIfExcluded(args, cfg);
        const days = lg.retentionInDays;
        if (days === undefined || days === 0) {
            report(`the log group keeps logs forever: set retentionInDays (e.g. 14 for dev, 30 for prod; one of ${LOG_RETENTION_DAYS.join(", ")}).`);
        } else if (!(LOG_RETENTION_DAYS as readonly number[]).includes(days)) {
            report(`retentionInDays ${days} is not a value CloudWatch accepts; use one of ${LOG_RETENTION_DAYS.join(", ")}.`);
        } else if (days < cfg.minRetentionDays || days > cfg.maxRetentionDays) {
            report(`retentionInDays ${days} is outside this stack's ${cfg.minRetentionDays}-${cfg.maxRetentionDays} day range.`);
        }
    }),
};

interface ManagedLogGroupConfig extends WithExclude {
    externalLogGroups: string[];
}
const managedLogGroupSchema: PolicyConfigSchema = {
    properties: {
        externalLogGroups: { type: "array", items: { type: "string" }, default: [], description: "Log group names managed outside this stack (with their own retention)." },
        ...EXCLUDE,
    },
};
export const lambdaLogGroupManaged: StackValidationPolicy = {
    name: "lambda-log-group-managed",
    description: "Checks whether each Lambda function logs to a log group declared in the stack (else Lambda creates /aws/lambda/<name> itself, with no retention).",
    enforcementLevel: "advisory",
    configSchema: managedLogGroupSchema,
    validateStack: (args, report) => {
        const cfg = configWithDefaults<ManagedLogGroupConfig>(managedLogGroupSchema, args);
        const functions = args.resources.filter(isFunction).filter((f) => !cfg.exclude.includes(f.name));
        if (functions.length === 0) args.notApplicable("no Lambda functions in the stack");
        const unknowns = new Unknowns(report);
        const groups = args.resources.filter((r) => r.isType(aws.cloudwatch.LogGroup));
        const groupNames = new Set(groups.flatMap((g) => knownStrings(g, ["name", "id"])));
        for (const fn of functions) {
            const deps = fn.propertyDependencies?.loggingConfig ?? [];
            if (deps.some((d) => groups.some((g) => g.urn === d.urn))) continue;
            const configured = peek<string>(fn.props, "loggingConfig", "logGroup");
            const name = peek<string>(fn.props, "name");
            if (!configured.known || (!configured.value && !name.known)) {
                unknowns.add(`the log group of ${label(fn)}`);
                continue;
            }
            const target = configured.value || `/aws/lambda/${(name as { value: string }).value}`;
            if (!groupNames.has(target) && !cfg.externalLogGroups.includes(target)) {
                unknowns.violation(`${label(fn)} logs to ${target}, which this stack does not declare: Lambda will create it without a retention. Add an aws.cloudwatch.LogGroup named ${target} with retentionInDays, or list it in externalLogGroups.`, fn.urn);
            }
        }
        unknowns.finish(args);
    },
};

// ---------------------------------------------------------------------------------------------------------
// Exposure and concurrency
// ---------------------------------------------------------------------------------------------------------

interface FunctionUrlConfig extends WithExclude {
    allowPublicUrls: boolean;
}
const functionUrlSchema: PolicyConfigSchema = {
    properties: {
        allowPublicUrls: { type: "boolean", default: false, description: "Allow function URLs with authorizationType NONE (anyone on the internet can invoke)." },
        ...EXCLUDE,
    },
};
export const lambdaFunctionUrlAuth: ResourceValidationPolicy = {
    name: "lambda-function-url-auth",
    description: "Checks whether each Lambda function URL requires IAM auth (authorizationType AWS_IAM) unless the policy config allows public URLs.",
    enforcementLevel: "mandatory",
    configSchema: functionUrlSchema,
    validateResource: validateResourceOfType(aws.lambda.FunctionUrl, (url, args, report) => {
        const cfg = configWithDefaults<FunctionUrlConfig>(functionUrlSchema, args);
        skipIfExcluded(args, cfg);
        if (url.authorizationType === "NONE" && !cfg.allowPublicUrls) {
            report("the function URL has authorizationType NONE: anyone can invoke the model and run up the bill. Use AWS_IAM, or set allowPublicUrls: true in this stack's policy config.");
        }
    }),
};

interface ReservedConfig extends WithExclude {
    requireReservedConcurrency: boolean;
    maxReservedConcurrency: number;
}
const reservedSchema: PolicyConfigSchema = {
    properties: {
        requireReservedConcurrency: {
            type: "boolean",
            default: false,
            description: "Prod-like stacks: every function must reserve concurrency (a guaranteed and capped share of the account).",
        },
        maxReservedConcurrency: {
            type: "integer",
            minimum: 1,
            default: RESERVED_CONCURRENCY_MAX,
            description: "Largest reservation: the account default is 1,000 and 100 must stay unreserved.",
        },
        ...EXCLUDE,
    },
};
export const lambdaReservedConcurrency: ResourceValidationPolicy = {
    name: "lambda-reserved-concurrency",
    description: "Checks whether each Lambda function's reserved concurrency leaves the account's unreserved minimum, and, in stacks whose policy config sets requireReservedConcurrency, is set.",
    enforcementLevel: "mandatory",
    configSchema: reservedSchema,
    validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
        const cfg = configWithDefaults<ReservedConfig>(reservedSchema, args);
        skipIfExcluded(args, cfg);
        const r = fn.reservedConcurrentExecutions;
        const unreserved = r === undefined || r === -1;
        if (!unreserved && r! > cfg.maxReservedConcurrency) {
            report(`reservedConcurrentExecutions ${r} is above ${cfg.maxReservedConcurrency}: the account must keep 100 unreserved (default account limit 1,000).`);
        }
        if (cfg.requireReservedConcurrency) {
            if (unreserved) report("this stack requires reserved concurrency (requireReservedConcurrency): set reservedConcurrency so the function is guaranteed capacity and capped against runaway cost.");
            else if (r === 0) report("reservedConcurrentExecutions 0 throttles every invocation; reserve at least 1.");
        }
    }),
};

const provisionedReservedSchema: PolicyConfigSchema = { properties: { ...EXCLUDE } };
export const lambdaProvisionedWithinReserved: StackValidationPolicy = {
    name: "lambda-provisioned-within-reserved",
    description: "Checks whether each Lambda function's provisioned concurrency (static counts plus auto scaling maximums) fits within its reserved concurrency.",
    enforcementLevel: "mandatory",
    configSchema: provisionedReservedSchema,
    validateStack: (args, report) => {
        const cfg = configWithDefaults<WithExclude>(provisionedReservedSchema, args);
        const unknowns = new Unknowns(report);
        const { byFunction, unresolved } = provisionedByFunction(args.resources);
        for (const u of unresolved) unknowns.add(u);
        if (byFunction.size === 0) {
            unknowns.finish(args);
            args.notApplicable("no provisioned concurrency in the stack");
        }
        for (const [fn, uses] of byFunction) {
            if (cfg.exclude.includes(fn.name)) continue;
            const reserved = peek<number>(fn.props, "reservedConcurrentExecutions");
            if (!reserved.known) {
                unknowns.add(`${label(fn)}.reservedConcurrentExecutions`);
                continue;
            }
            if (reserved.value === undefined || reserved.value === -1) continue;
            if (uses.some((u) => u.max === undefined)) {
                unknowns.add(`the provisioned concurrency of ${label(fn)}`);
                continue;
            }
            const total = uses.reduce((a, u) => a + (u.max ?? 0), 0);
            if (total > reserved.value) {
                unknowns.violation(`${label(fn)} reserves ${reserved.value} but provisions up to ${total} (${uses.map((u) => `${label(u.resource)}: ${u.max}`).join(", ")}); Lambda refuses provisioned concurrency above the reservation. Raise reservedConcurrency or lower the provisioned maximum.`, fn.urn);
            }
        }
        unknowns.finish(args);
    },
};

/** Every policy, in the order the pack and the offline plan list them. */
export const mlLambdaPolicies: Array<ResourceValidationPolicy | StackValidationPolicy> = [
    lambdaMemoryWithinLimits,
    mlLambdaMemoryMinimum,
    lambdaTimeoutWithinLimits,
    mlLambdaTimeoutColdLoad,
    lambdaRuntimeNotDeprecated,
    lambdaRuntimeDeprecationApproaching,
    lambdaSnapStartCompatible,
    lambdaSnapStartWithoutProvisionedConcurrency,
    lambdaMaxLayers,
    lambdaUnzippedSizeWithinLimit,
    lambdaImagePinnedByDigest,
    ecrScanOnPush,
    ecrImmutableTags,
    modelBucketEncrypted,
    modelBucketVersioned,
    modelBucketPublicAccessBlocked,
    modelBucketTlsOnly,
    lambdaRoleLeastPrivilege,
    cloudwatchLogGroupRetention,
    lambdaLogGroupManaged,
    lambdaFunctionUrlAuth,
    lambdaReservedConcurrency,
    lambdaProvisionedWithinReserved,
];
