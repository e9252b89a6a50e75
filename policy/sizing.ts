/**
 * Function sizing: memory and timeout within Lambda's limits, and the ML minimums (advisory by default;
 * policy/config.prod.json raises them to mandatory).
 */
import * as aws from "@pulumi/aws";
import { MEMORY_MAX_MB, MEMORY_MIN_MB, MEMORY_ONE_VCPU_MB, TIMEOUT_MAX_S, TIMEOUT_MIN_S } from "../components/limits";
import { LAMBDA_DEFAULT_MEMORY_MB, LAMBDA_DEFAULT_TIMEOUT_S, fmt } from "./common";
import { resourcePolicy, WithExclude } from "./factory";

export const lambdaMemoryWithinLimits = resourcePolicy({
    name: "lambda-memory-within-limits",
    description: `Checks whether each Lambda function's memorySize is a whole number from ${fmt(MEMORY_MIN_MB)} to ${fmt(MEMORY_MAX_MB)} MB (the Lambda limits).`,
    enforcementLevel: "mandatory",
    resource: aws.lambda.Function,
    validate: (fn, args, report) => {
        const m = fn.memorySize ?? LAMBDA_DEFAULT_MEMORY_MB;
        if (!Number.isInteger(m) || m < MEMORY_MIN_MB || m > MEMORY_MAX_MB) {
            report(`memorySize ${m} MB is outside Lambda's ${fmt(MEMORY_MIN_MB)}-${fmt(MEMORY_MAX_MB)} MB range; set a whole number in that range (${fmt(MEMORY_ONE_VCPU_MB)} MB = one vCPU).`);
        }
    },
});

interface MemoryMinimumConfig extends WithExclude {
    minMemoryMb: number;
}
export const mlLambdaMemoryMinimum = resourcePolicy({
    name: "ml-lambda-memory-minimum",
    description: "Checks whether each Lambda function has at least the configured ML memory minimum (default 1,024 MB), enough to load a model and its libraries.",
    enforcementLevel: "advisory",
    config: {
        minMemoryMb: {
            type: "integer",
            minimum: MEMORY_MIN_MB,
            maximum: MEMORY_MAX_MB,
            default: 1024,
            description: "Smallest memorySize (MB) for an ML function: 512-1,024 suits small models (all-MiniLM-L6-v2), ~3,008 medium ones.",
        },
    },
    resource: aws.lambda.Function,
    validate: (fn, args, report, cfg: MemoryMinimumConfig) => {
        const m = fn.memorySize ?? LAMBDA_DEFAULT_MEMORY_MB;
        if (m < cfg.minMemoryMb) {
            report(`memorySize ${fmt(m)} MB is below the ML minimum of ${fmt(cfg.minMemoryMb)} MB: the model and torch/onnxruntime may not fit, and CPU scales with memory (${fmt(MEMORY_ONE_VCPU_MB)} MB = one vCPU). Raise memorySize, or lower minMemoryMb in the policy config for a smaller model.`);
        }
    },
});

export const lambdaTimeoutWithinLimits = resourcePolicy({
    name: "lambda-timeout-within-limits",
    description: `Checks whether each Lambda function's timeout is a whole number of seconds from ${TIMEOUT_MIN_S} to ${TIMEOUT_MAX_S} (the Lambda limit).`,
    enforcementLevel: "mandatory",
    resource: aws.lambda.Function,
    validate: (fn, args, report) => {
        const t = fn.timeout ?? LAMBDA_DEFAULT_TIMEOUT_S;
        if (!Number.isInteger(t) || t < TIMEOUT_MIN_S || t > TIMEOUT_MAX_S) {
            report(`timeout ${t} s is outside Lambda's ${TIMEOUT_MIN_S}-${TIMEOUT_MAX_S} s range; set a whole number of seconds in that range.`);
        }
    },
});

interface ColdLoadConfig extends WithExclude {
    minTimeoutSeconds: number;
}
export const mlLambdaTimeoutColdLoad = resourcePolicy({
    name: "ml-lambda-timeout-cold-load",
    description: "Checks whether each Lambda function's timeout is long enough for a cold model load (default at least 30 s).",
    enforcementLevel: "advisory",
    config: {
        minTimeoutSeconds: {
            type: "integer",
            minimum: TIMEOUT_MIN_S,
            maximum: TIMEOUT_MAX_S,
            default: 30,
            description: "Smallest timeout (s) that covers a cold start: downloading/extracting the model and importing the ML libraries.",
        },
    },
    resource: aws.lambda.Function,
    validate: (fn, args, report, cfg: ColdLoadConfig) => {
        const t = fn.timeout ?? LAMBDA_DEFAULT_TIMEOUT_S;
        if (t < cfg.minTimeoutSeconds) {
            report(`timeout ${t} s is shorter than the ${cfg.minTimeoutSeconds} s a cold model load may take (an init over 10 s is retried inside the invocation, under this timeout). Raise timeout, or lower minTimeoutSeconds in the policy config.`);
        }
    },
});
