/**
 * AWS Lambda limits: the one source of truth for the component, its validators and the policy pack.
 * Numbers verified 2026-11 against:
 *  - https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 *  - https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
 *  - https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html
 *  - https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
 *  - https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html
 *  - https://docs.aws.amazon.com/lambda/latest/api/API_Cors.html (function URL CORS)
 */

/** Function code + all layers, unzipped. AWS: "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes". */
export const UNZIPPED_LIMIT_BYTES = 262_144_000;
/** A zip uploaded directly in the API call (function or layer); larger zips must go through S3. */
export const DIRECT_UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024;
/** Layers per function. */
export const MAX_LAYERS = 5;
/** Container image, uncompressed, all layers. */
export const IMAGE_LIMIT_BYTES = 10 * 1024 * 1024 * 1024;

export const MEMORY_MIN_MB = 128;
export const MEMORY_MAX_MB = 10_240;
/** At 1,769 MB a function has the equivalent of one vCPU. */
export const MEMORY_ONE_VCPU_MB = 1_769;

export const TIMEOUT_MIN_S = 1;
export const TIMEOUT_MAX_S = 900;

export const EPHEMERAL_MIN_MB = 512;
export const EPHEMERAL_MAX_MB = 10_240;

/** Synchronous invocation payload, request and response. */
export const SYNC_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;
export const ASYNC_PAYLOAD_LIMIT_BYTES = 1024 * 1024;

/** Default account concurrency; at least this many must stay unreserved. */
export const ACCOUNT_CONCURRENCY_DEFAULT = 1_000;
export const UNRESERVED_CONCURRENCY_MIN = 100;
export const RESERVED_CONCURRENCY_MAX = ACCOUNT_CONCURRENCY_DEFAULT - UNRESERVED_CONCURRENCY_MIN;

/**
 * Provisioned concurrency auto scaling: target for LambdaProvisionedConcurrencyUtilization. AWS's guide
 * (provisioned-concurrency.html, "Using Application Auto Scaling to automate provisioned concurrency management")
 * configures target tracking "to keep utilization near 70 percent" (TargetValue 0.7): headroom for a burst while
 * new environments initialize. The bounds are this component's: below 0.1 pays for idle environments, above 0.9
 * leaves no headroom for the scaler's minutes-long reaction.
 */
export const DEFAULT_TARGET_UTILIZATION = 0.7;
export const TARGET_UTILIZATION_MIN = 0.1;
export const TARGET_UTILIZATION_MAX = 0.9;

/** SnapStart cannot be combined with ephemeral storage above this. */
export const SNAPSTART_MAX_EPHEMERAL_MB = 512;

export const ARCHITECTURES = ["x86_64", "arm64"] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/** Runtimes this component deploys. */
export const SUPPORTED_RUNTIMES = ["python3.11", "python3.12", "python3.13", "python3.14"] as const;
export type Runtime = (typeof SUPPORTED_RUNTIMES)[number];
export const DEFAULT_RUNTIME: Runtime = "python3.12";

export interface RuntimeFacts {
    /** Python version, e.g. "3.12". */
    python: string;
    /** Amazon Linux generation the runtime runs on. */
    os: "al2" | "al2023";
    /** manylinux tags whose wheels run there, newest first (glibc 2.26 on AL2, 2.34 on AL2023). */
    manylinux: string[];
    snapStart: boolean;
    /** ISO date Lambda deprecates (or deprecated) the runtime; undefined while none is announced. */
    deprecation?: string;
}

const AL2_TAGS = ["manylinux2014", "manylinux_2_17"];
const AL2023_TAGS = ["manylinux_2_34", "manylinux_2_28", "manylinux_2_27", "manylinux_2_24", "manylinux2014", "manylinux_2_17"];

export const RUNTIMES: Record<string, RuntimeFacts> = {
    "python3.9": { python: "3.9", os: "al2", manylinux: AL2_TAGS, snapStart: false, deprecation: "2025-12-15" },
    "python3.10": { python: "3.10", os: "al2", manylinux: AL2_TAGS, snapStart: false, deprecation: "2026-10-31" },
    "python3.11": { python: "3.11", os: "al2", manylinux: AL2_TAGS, snapStart: false, deprecation: "2027-06-30" },
    "python3.12": { python: "3.12", os: "al2023", manylinux: AL2023_TAGS, snapStart: true },
    "python3.13": { python: "3.13", os: "al2023", manylinux: AL2023_TAGS, snapStart: true },
    "python3.14": { python: "3.14", os: "al2023", manylinux: AL2023_TAGS, snapStart: true },
};

/** Runtimes Lambda still accepts but that are close to deprecation: allowed, with a warning. */
export const ADVISORY_RUNTIMES = ["python3.11"];
/** Runtimes past (or at) their deprecation date: refused. */
export const DEPRECATED_RUNTIMES = ["python3.9", "python3.10"];

/** CloudWatch Logs retention values accepted by PutRetentionPolicy. */
export const LOG_RETENTION_DAYS = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Headroom kept below the unzipped limit by default: pip versions drift between plan and up. */
export const DEFAULT_HEADROOM_BYTES = 5 * 1024 * 1024;

/** Function URL auth types (CreateFunctionUrlConfig AuthType). */
export const FUNCTION_URL_AUTH_TYPES = ["AWS_IAM", "NONE"] as const;
/** Invoke modes Lambda knows; only BUFFERED works with a Python managed runtime (see validateUrl). */
export const FUNCTION_URL_INVOKE_MODES = ["BUFFERED", "RESPONSE_STREAM"] as const;
/** Function URL CORS (API_Cors): list sizes and value lengths. */
export const CORS_MAX_ORIGINS = 100;
export const CORS_MAX_ORIGIN_LENGTH = 253;
export const CORS_MAX_METHODS = 6;
export const CORS_MAX_HEADERS = 100;
export const CORS_MAX_HEADER_LENGTH = 1024;
export const CORS_MAX_AGE_S = 86_400;
/**
 * Methods a function URL CORS rule can name: API_Cors allows at most 6 characters per entry, so OPTIONS (7) cannot
 * be listed, and Lambda answers the preflight OPTIONS itself.
 */
export const CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] as const;
