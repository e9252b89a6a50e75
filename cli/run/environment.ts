/**
 * The environment Lambda gives a function, one definition for both runners (the zip path's ZipRunner and the image
 * path's ImageRunner). From https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html
 * ("Defined runtime environment variables"):
 *  - reserved, set by Lambda for every function: _HANDLER, AWS_REGION, AWS_DEFAULT_REGION,
 *    AWS_LAMBDA_FUNCTION_NAME / _MEMORY_SIZE / _VERSION, AWS_LAMBDA_INITIALIZATION_TYPE, AWS_LAMBDA_LOG_GROUP_NAME /
 *    _STREAM_NAME, the execution role's credentials, TZ (UTC); and, for the managed runtimes (zip functions; an
 *    image's base image sets its own), AWS_EXECUTION_ENV, LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR;
 *  - unreserved defaults a function's own variables may override: LANG, PATH, LD_LIBRARY_PATH (and PYTHONPATH, which
 *    the runtime's bootstrap.py sets to $LAMBDA_RUNTIME_DIR after it built the search path, unless the function set
 *    its own: cli/run/runtime/bootstrap.py);
 *  - with JSON logging (loggingConfig), AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL for the runtime client.
 * The function's own variables come last, verbatim; a reserved name among them is ignored (Lambda refuses it at
 * deploy time). Local-only: AWS_LAMBDA_FUNCTION_TIMEOUT (aws-lambda-rie reads it to enforce the timeout and
 * passes it on; Lambda does not set it) and, on the zip path, AWS_ENDPOINT_URL_S3 (the local moto).
 */

/** What the environment is made from (a subset of DeployedFunction, which both runners run). */
export interface EnvironmentInput {
    name: string;
    handler: string;
    memoryMb: number;
    timeoutS: number;
    region: string;
    environment: Record<string, string>;
    logging?: { format?: string; applicationLogLevel?: string; logGroup?: string };
}

/** Dummy credentials: moto accepts any; Lambda would give the execution role's. */
export const DUMMY_CREDENTIALS = {
    AWS_ACCESS_KEY_ID: "AKIAMLLAMBDALOCAL000",
    AWS_SECRET_ACCESS_KEY: "ml-lambda-local-secret-not-a-real-key",
    AWS_SESSION_TOKEN: "ml-lambda-local-session",
};

/** Names a function cannot set (Lambda refuses them); its own values for them are ignored here. */
export const RESERVED = new Set([
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
]);

/** A log stream name in Lambda's shape: 2026/11/30/[$LATEST]<32 hex>. */
export function logStreamName(now: Date, hex32: string): string {
    const d = now.toISOString().slice(0, 10).replace(/-/g, "/");
    return `${d}/[$LATEST]${hex32}`;
}

export function lambdaEnvironment(f: EnvironmentInput, o: {
    logStream: string;
    /** The managed runtime (e.g. "python3.12") on the zip path: adds its variables; omit for an image. */
    runtime?: string;
    s3Endpoint?: string;
    probe?: boolean;
}): Record<string, string> {
    const env: Record<string, string> = {
        _HANDLER: f.handler,
        AWS_REGION: f.region,
        AWS_DEFAULT_REGION: f.region,
        AWS_LAMBDA_FUNCTION_NAME: f.name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(f.memoryMb),
        AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
        AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
        AWS_LAMBDA_LOG_GROUP_NAME: f.logging?.logGroup ?? `/aws/lambda/${f.name}`,
        AWS_LAMBDA_LOG_STREAM_NAME: o.logStream,
        ...DUMMY_CREDENTIALS,
        TZ: ":UTC",
        AWS_LAMBDA_FUNCTION_TIMEOUT: String(f.timeoutS),
    };
    if (o.runtime) {
        Object.assign(env, {
            AWS_EXECUTION_ENV: `AWS_Lambda_${o.runtime}`,
            LAMBDA_TASK_ROOT: "/var/task",
            LAMBDA_RUNTIME_DIR: "/var/runtime",
            LANG: "en_US.UTF-8",
            PATH: "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            LD_LIBRARY_PATH: "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
        });
    }
    if ((f.logging?.format ?? "").toUpperCase() === "JSON") {
        env.AWS_LAMBDA_LOG_FORMAT = "JSON";
        env.AWS_LAMBDA_LOG_LEVEL = (f.logging?.applicationLogLevel ?? "INFO").toUpperCase();
    }
    for (const [k, v] of Object.entries(f.environment)) if (!RESERVED.has(k)) env[k] = v;
    if (o.s3Endpoint) env.AWS_ENDPOINT_URL_S3 = o.s3Endpoint;
    if (o.probe) env.ML_LAMBDA_PROBE = "1";
    return env;
}
