/**
 * The faithful run's vocabulary: what a deployed function is (DeployedFunction), how one is run (FunctionRunner),
 * and what a run reports (Invocation, RunSummary). See ./index.ts for the whole picture.
 */

/** A deployment artifact: a zip exactly as Lambda receives it, or an already-unpacked directory (the seed's layer). */
export type Artifact =
    | { zip: string; /** hex sha256 of the zip file, checked before it is unpacked (computed when absent) */ sha256?: string }
    | { dir: string };

/** An object the function reads from S3 at run time: served by a local moto server at the same bucket and key. */
export interface S3Object {
    bucket: string;
    key: string;
    /** The exact bytes to serve. */
    file: string;
    /** hex sha256 of `file`, when known (checked before serving). */
    sha256?: string;
}

/** A directory mounted read-only at a fixed path, e.g. a model baked at /opt/ml/model (image-like layouts). */
export interface ExtraMount {
    source: string;
    /** Absolute path inside the function's root; under /opt or /var/task it is mounted over the merged tree. */
    target: string;
}

/** Everything needed to run one Lambda function the way Lambda runs it. */
export interface DeployedFunction {
    /** AWS_LAMBDA_FUNCTION_NAME. */
    name: string;
    packageType: "Zip" | "Image";
    /** e.g. "python3.12" (Zip). */
    runtime: string;
    /** e.g. "app.handler.lambda_handler" (Zip). */
    handler: string;
    architecture: "x86_64" | "arm64";
    memoryMb: number;
    timeoutS: number;
    /** /tmp size (ephemeral storage), MB. */
    ephemeralStorageMb: number;
    region: string;
    /** The function's own environment variables, verbatim. */
    environment: Record<string, string>;
    /** Lambda's logging config: JSON format sets AWS_LAMBDA_LOG_FORMAT / AWS_LAMBDA_LOG_LEVEL for the runtime. */
    logging?: { format?: string; applicationLogLevel?: string; logGroup?: string };
    /** The function code (Zip): unpacked read-only at /var/task. */
    code?: Artifact;
    /** The layers, in the function's order: unpacked read-only at /opt, a later layer's files over an earlier one's. */
    layers: Artifact[];
    /** Objects served at their bucket and key by a local moto server (AWS_ENDPOINT_URL_S3 points the function at it). */
    s3Objects: S3Object[];
    /** Extra read-only mounts (not something Lambda has for zip functions: say why when you use one). */
    extraMounts?: ExtraMount[];
    /** Image path (issue 11): the build inputs the plan recorded. */
    image?: {
        context: string; dockerfile: string; buildArgs: Record<string, string>; platform?: string; imageName?: string;
        /** The local tag of the image built from them: what the image runner runs. */
        tag?: string;
    };
}

export interface RunnerOptions {
    /** Build/tool cache: unpacked zips (by sha256), the runtime directory, the moto tools venv. */
    cacheDir: string;
    /** Pin the whole function (emulator, runtime and its threads) to this many CPUs, as Lambda gives 1 vCPU at 1,769 MB. */
    cpus?: number;
    /**
     * Also cap the function at this many CPUs of time (a CFS quota in a cgroup of its own), as Lambda caps a function
     * at its memory's vCPU share while it may see more CPUs; e.g. `cpus: 2, cpuQuota: 1` is a 1,769 MB function on a
     * 2-vCPU host. Needs a writable cgroup cpu controller (root). Default: no quota.
     */
    cpuQuota?: number;
    /** Test-only: report module origins etc. after each invocation (Invocation.probe). */
    probe?: boolean;
    /** Fixed 127.0.0.1 ports (default: free ones). A port in use is a clear error. */
    ports?: { emulator?: number; runtimeApi?: number; moto?: number };
    /** Progress lines (tool builds, unpacking); default: stderr. */
    log?: (line: string) => void;
    /** Every line the emulator and the function print (default: kept for error reports only). */
    onOutput?: (line: string) => void;
    /** Environment of the host process: where ML_LAMBDA_RUNTIME_PYTHON, ML_LAMBDA_RIE, PATH... are read. */
    hostEnv?: NodeJS.ProcessEnv;
    /** How to enter a private mount namespace: "auto" (root: unshare -m; else unshare -rm), or force one. */
    sandbox?: "auto" | "root" | "userns";
}

/** One invocation's answer and the figures measured around it. */
export interface Invocation {
    /** HTTP status of the emulator's answer (200 also for a function error: see functionError). */
    status: number;
    /** The response payload as the caller receives it. */
    body: string;
    /** `body` parsed as JSON, when it is JSON. */
    response?: unknown;
    /** Set when the runtime reported an error (X-Amz-Function-Error, or an errorType payload, or a timeout). */
    functionError?: string;
    /** The first invocation of this environment (its Init ran before it). */
    cold: boolean;
    /** POST to response received, ms. */
    roundTripMs: number;
    /** Cold only: the runtime is started by the first invoke (the emulator inits lazily), so this is start of the
     * runtime to the first response received: Lambda's cold-start latency minus the platform's own placement. */
    timeToFirstResponseMs?: number;
    /** Cold only: the emulator's INIT REPORT (runtime start to its first /next), the honest Init Duration. */
    initMs?: number;
    /** The emulator's REPORT Duration (for the cold invoke it includes the init: the runtime starts inside it). */
    durationMs?: number;
    /** The invocation alone: the emulator's INVOKE RTDONE duration (event handed to the runtime to its response). */
    invokeMs?: number;
    /** The REPORT line, verbatim (its Init Duration and Max Memory Used are not Lambda's: see cli/invoke.ts). */
    reportLine?: string;
    /** Peak RSS (VmHWM) of the runtime process tree so far, MiB. */
    peakRssMb?: number;
    /** Bytes used on the function's /tmp after this invocation. */
    tmpUsedBytes?: number;
    /** Test-only (RunnerOptions.probe). */
    probe?: ProbeReport;
}

export interface ProbeReport {
    modules: Record<string, string>;
    maps: string[];
    sys_path: string[];
    prefix: string;
    executable: string;
    version: string;
    uid: number;
    gid: number;
    cwd: string;
    env: Record<string, string>;
    tmp_at_start: string[];
    tmp_now: string[];
    writable: Record<string, string>;
    /** Files opened from Python since init (the "open" audit event: imports, open(); not a C++/Rust library's reads). */
    opened?: string[];
    /** Addresses the process connected sockets to since init (the "socket.connect" audit event). */
    connects?: string[];
}

export interface StartInfo {
    /** 127.0.0.1 port of the emulator's invoke endpoint (POST /2015-03-31/functions/function/invocations). */
    port: number;
    /** Spawning the sandbox (or starting the container) to the emulator listening, ms (our machinery, not Lambda's). */
    sandboxMs: number;
    /** Zip: the runtime's interpreter (host path) and its version. */
    python?: { path: string; version: string; prefix: string };
    /** Image: the image run and its container. */
    image?: { tag: string; container: string };
    /** moto's endpoint, when the function reads S3 objects. */
    s3Endpoint?: string;
}

export interface RunSummary {
    /** Peak RSS of the runtime over the whole run, MiB. */
    peakRssMb?: number;
    tmpUsedBytes?: number;
    /** Every line the emulator and the function printed. */
    log: string[];
}

/** start() → invoke(event)… → stop(). stop() is idempotent and always leaves no process behind. */
export interface FunctionRunner {
    start(): Promise<StartInfo>;
    invoke(event: unknown): Promise<Invocation>;
    stop(): Promise<RunSummary>;
}

/** A setup or run failure with a message that names the setting, the value and the fix. */
export class RunError extends Error {
    constructor(message: string, readonly exitCode = 2) {
        super(message);
        this.name = "RunError";
    }
}
