/**
 * Runs a built Lambda container image locally the way Lambda runs it, behind the same start → invoke(event) →
 * stop interface as the zip path's faithful runner, so `ml-lambda invoke --stack <image-stack>` and the image
 * tests drive either path alike.
 *
 * Lambda's conditions, reproduced: an unprivileged user (993:990 by default; Lambda's is not root and the image's
 * USER is ignored), a read-only root file system with a fresh tmpfs /tmp of the function's ephemeral storage,
 * the memory limit of the function's memory size and its share of CPU (1,769 MB = 1 vCPU), the function's
 * environment as the component sets it plus the variables Lambda itself sets, and no network but the host's
 * loopback (the engine here has no bridge network, so the container shares the host's network namespace).
 *
 * How it starts: AWS base images start the runtime interface emulator from /lambda-entrypoint.sh when
 * AWS_LAMBDA_RUNTIME_API is unset, on fixed ports 8080 and 9001. With no bridge network there is no port mapping,
 * so the runner starts the same emulator binary the same way (/usr/local/bin/aws-lambda-rie /var/runtime/bootstrap,
 * handler in _HANDLER) with its two addresses pinned to free loopback ports instead. Everything after that
 * (bootstrap, awslambdaric, the handler) is the image's own.
 */
import * as os from "os";
import * as crypto from "crypto";
import { DockerEngine, DockerError } from "../components/docker/engine";
import { lambdaEnvironment as sharedEnvironment, logStreamName } from "./run/environment";
import { MEMORY_ONE_VCPU_MB } from "../components/limits";
import { freePort, postInvoke, waitForPort } from "./proc";
import { SANDBOX_GID, SANDBOX_UID } from "./run/sandbox";
import { initReportMs, parseReportLine, Report } from "./run/report";

/** Lambda gives a function one vCPU at 1,769 MB of memory, proportionally below and above. */
export const LAMBDA_USER = `${SANDBOX_UID}:${SANDBOX_GID}`;
const RIE = "/usr/local/bin/aws-lambda-rie";
const BOOTSTRAP = "/var/runtime/bootstrap";

export interface FunctionSpec {
    functionName: string;
    memorySizeMb: number;
    timeoutS: number;
    ephemeralStorageMb: number;
    region: string;
    /** The function's environment.variables as the component sets them. */
    environment: Record<string, string>;
    /** imageConfig.commands[0], when the component overrides the image's CMD. */
    handler?: string;
    logFormat?: string;
    applicationLogLevel?: string;
    logGroup?: string;
}

/** What Lambda adds to a function's own environment: the definition both runners share (cli/run/environment.ts). */
export function lambdaEnvironment(spec: FunctionSpec, handler: string): Record<string, string> {
    return sharedEnvironment({
        name: spec.functionName, handler, memoryMb: spec.memorySizeMb, timeoutS: spec.timeoutS, region: spec.region,
        environment: spec.environment, logging: { format: spec.logFormat, applicationLogLevel: spec.applicationLogLevel, logGroup: spec.logGroup },
    }, { logStream: logStreamName(new Date(), crypto.randomBytes(16).toString("hex")) });
}

/** CPUs for the memory size, as Lambda allots them, capped at what this machine has. */
export function cpusFor(memoryMb: number, hostCpus: number = os.cpus().length): number {
    return Math.max(0.1, Math.min(hostCpus, memoryMb / MEMORY_ONE_VCPU_MB, 6));
}

export interface InvokeResult {
    status: number;
    body: string;
    /** The handler's response object, parsed. */
    response: unknown;
    wallMs: number;
    functionError?: string;
    report?: Report;
}

export interface ImageRunnerOptions {
    image: string;
    spec: FunctionSpec;
    user?: string;
    /** Overrides cpusFor(memory). */
    cpus?: number;
    engine?: DockerEngine;
    log?: (line: string) => void;
    /** How long to wait for the emulator to listen. */
    startTimeoutMs?: number;
}

export class ImageRunner {
    readonly engine: DockerEngine;
    private id = "";
    private port = 0;
    private readonly lines: string[] = [];
    private stopLogs?: () => void;
    private startedAt = 0;
    private invokes = 0;
    /** Start of the container → first response received: Lambda's cold start as a caller sees it. */
    firstResponseMs?: number;

    constructor(readonly opts: ImageRunnerOptions) {
        this.engine = opts.engine ?? new DockerEngine();
    }

    logs(): string[] {
        return [...this.lines];
    }

    /** The emulator's own INIT REPORT (runtime start to ready), once the first invoke has run. */
    initReportMs(): number | undefined {
        for (const l of this.lines) {
            const v = initReportMs(l);
            if (v !== undefined) return v;
        }
        return undefined;
    }

    async start(): Promise<void> {
        const image = await this.engine.inspectImage(this.opts.image);
        if (!image) throw new DockerError(`image ${this.opts.image} not found in the engine: build it first`);
        const handler = this.opts.spec.handler ?? image.Config.Cmd?.[0];
        if (!handler) throw new DockerError(`image ${this.opts.image} has no CMD naming the handler, and the function sets none`);
        const env = lambdaEnvironment(this.opts.spec, handler);
        this.port = await freePort();
        const apiPort = await freePort();
        const cpus = this.opts.cpus ?? cpusFor(this.opts.spec.memorySizeMb);
        this.id = await this.engine.createContainer(`ml-lambda-fn-${crypto.randomBytes(4).toString("hex")}`, {
            Image: this.opts.image,
            User: this.opts.user ?? LAMBDA_USER,
            Entrypoint: [RIE, "--runtime-interface-emulator-address", `127.0.0.1:${this.port}`, "--runtime-api-address", `127.0.0.1:${apiPort}`],
            Cmd: [BOOTSTRAP],
            Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
            HostConfig: {
                NetworkMode: "host",
                ReadonlyRootfs: true,
                Tmpfs: { "/tmp": `rw,nosuid,nodev,size=${this.opts.spec.ephemeralStorageMb}m` },
                Memory: this.opts.spec.memorySizeMb * 1024 * 1024,
                MemorySwap: this.opts.spec.memorySizeMb * 1024 * 1024,
                NanoCpus: Math.round(cpus * 1e9),
            },
        });
        this.opts.log?.(`container ${this.id.slice(0, 12)}: user ${this.opts.user ?? LAMBDA_USER}, read-only root, tmpfs /tmp ${this.opts.spec.ephemeralStorageMb} MB, ` +
            `${this.opts.spec.memorySizeMb} MB, ${cpus.toFixed(2)} CPU, emulator on 127.0.0.1:${this.port}`);
        this.startedAt = performance.now();
        await this.engine.startContainer(this.id);
        this.stopLogs = this.engine.followLogs(this.id, (l) => this.lines.push(l));
        const listening = await waitForPort(this.port, this.opts.startTimeoutMs ?? 15_000, async () => {
            const state = (await this.engine.inspectContainer(this.id)).State;
            if (!state.Running) {
                throw new DockerError(`the image's emulator exited before answering (exit ${state.ExitCode}${state.OOMKilled ? ", out of memory" : ""})`, await this.engine.containerLogs(this.id));
            }
        });
        if (listening) return;
        throw new DockerError(`the image's emulator did not listen on 127.0.0.1:${this.port} within ${(this.opts.startTimeoutMs ?? 15_000) / 1000} s`, await this.engine.containerLogs(this.id));
    }

    async invoke(event: unknown): Promise<InvokeResult> {
        if (!this.id) throw new DockerError("invoke before start");
        const payload = typeof event === "string" ? event : JSON.stringify(event);
        const before = this.lines.length;
        const res = await postInvoke(this.port, payload, (this.opts.spec.timeoutS + 30) * 1000, (m) => new DockerError(m))
            .catch(async (e) => {
                throw new DockerError(`the image did not answer the invocation: ${(e as Error).message}`, await this.engine.containerLogs(this.id).catch(() => this.logs()));
            });
        if (this.invokes++ === 0) this.firstResponseMs = performance.now() - this.startedAt;
        // The REPORT line may trail the response through the log stream.
        let report: Report | undefined;
        const until = Date.now() + 2000;
        while (!report && Date.now() < until) {
            report = this.lines.slice(before).map(parseReportLine).find((r) => r !== undefined);
            if (!report) await new Promise((r) => setTimeout(r, 10));
        }
        let response: unknown;
        try {
            response = JSON.parse(res.body);
        } catch {
            response = undefined;
        }
        const functionError = (res.headers["x-amz-function-error"] as string | undefined)
            ?? (response && typeof response === "object" && "errorType" in (response as object) ? String((response as any).errorType) : undefined);
        return { status: res.status, body: res.body, response, wallMs: res.wallMs, functionError, report };
    }

    async stop(): Promise<void> {
        this.stopLogs?.();
        if (!this.id) return;
        const id = this.id;
        this.id = "";
        try {
            await this.engine.stopContainer(id, 1);
        } finally {
            await this.engine.removeContainer(id);
        }
    }
}
