/**
 * Runs a built Lambda container image locally the way Lambda runs it, as a FunctionRunner (cli/run/types.ts) like
 * the zip path's ZipRunner: createRunner() picks it for a function whose packageType is "Image", so
 * `ml-lambda invoke --stack <image-stack>`, the benchmark and `npm run test:image` drive either path alike and
 * read the same figures (Invocation).
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
 *
 * What it measures, as the zip runner does: the emulator starts the runtime on the first invoke, so the cold
 * invoke's round trip is runtime start to first response (timeToFirstResponseMs); peak RSS is VmHWM of the
 * emulator's descendants (the runtime) read from the host's /proc (the container's processes are the host's), and
 * /tmp use is statfs of the container's tmpfs through /proc/<pid>/root. With a remote or rootless engine those two
 * cannot be read and stay undefined.
 */
import * as os from "os";
import * as crypto from "crypto";
import * as fs from "fs";
import { DockerEngine, DockerError } from "../components/docker/engine";
import { lambdaEnvironment, logStreamName } from "./run/environment";
import { MEMORY_ONE_VCPU_MB } from "../components/limits";
import { descendants, freePort, peakRssMb, postInvoke, readAnswer, waitForPort } from "./proc";
import { SANDBOX_GID, SANDBOX_UID } from "./run/sandbox";
import { initReportMs, invokeRtDoneMs, parseReportLine, Report } from "./run/report";
import type { DeployedFunction, FunctionRunner, Invocation, RunnerOptions, RunSummary, StartInfo } from "./run/types";
import { RunError } from "./run/types";

export const LAMBDA_USER = `${SANDBOX_UID}:${SANDBOX_GID}`;
const RIE = "/usr/local/bin/aws-lambda-rie";
const BOOTSTRAP = "/var/runtime/bootstrap";

/** What Lambda adds to an image function's own environment (no managed runtime's variables), handler in _HANDLER. */
export function imageEnvironment(fn: DeployedFunction, handler: string): Record<string, string> {
    return lambdaEnvironment({ ...fn, handler }, { logStream: logStreamName(new Date(), crypto.randomBytes(16).toString("hex")) });
}

/** CPUs for the memory size, as Lambda allots them, capped at what this machine has. */
export function cpusFor(memoryMb: number, hostCpus: number = os.cpus().length): number {
    return Math.max(0.1, Math.min(hostCpus, memoryMb / MEMORY_ONE_VCPU_MB, 6));
}

export interface ImageRunnerOptions extends Partial<RunnerOptions> {
    /** The image to run; default fn.image.tag (what buildStackImage built). */
    image?: string;
    engine?: DockerEngine;
    /** Default 993:990 (Lambda's sandbox user). */
    user?: string;
    /** How long to wait for the emulator to listen. */
    startTimeoutMs?: number;
}

export class ImageRunner implements FunctionRunner {
    readonly engine: DockerEngine;
    readonly image: string;
    private id = "";
    private pid = 0;
    private port = 0;
    private readonly lines: string[] = [];
    private stopLogs?: () => void;
    private invocations = 0;
    private peakRssMb?: number;
    private tmpUsedBytes?: number;
    private stopped = false;

    constructor(readonly fn: DeployedFunction, readonly opts: ImageRunnerOptions = {}) {
        const image = opts.image ?? fn.image?.tag;
        if (!image) {
            throw new RunError(`function ${fn.name} is a container image with no built image to run: build the stack's context first ` +
                "(buildStackImage in cli/imageStack.ts; `ml-lambda invoke --stack` builds it for you)");
        }
        this.image = image;
        this.engine = opts.engine ?? new DockerEngine();
    }

    /** Every line the container printed so far. */
    logs(): string[] {
        return [...this.lines];
    }

    private onLine(line: string): void {
        this.lines.push(line);
        if (!this.stopped) this.opts.onOutput?.(line);
    }

    /** Creates and starts the container; on failure it removes what it had created before throwing. */
    async start(): Promise<StartInfo> {
        if (this.stopped || this.id) throw new RunError("start() once per runner");
        try {
            return await this.doStart();
        } catch (e) {
            await this.stop().catch(() => undefined);
            throw e;
        }
    }

    private async doStart(): Promise<StartInfo> {
        const image = await this.engine.inspectImage(this.image);
        if (!image) throw new DockerError(`image ${this.image} not found in the engine: build it first`);
        const handler = this.fn.handler || image.Config.Cmd?.[0];
        if (!handler) throw new DockerError(`image ${this.image} has no CMD naming the handler, and the function sets none`);
        const env = imageEnvironment(this.fn, handler);
        this.port = await freePort();
        const apiPort = await freePort();
        // Lambda caps a function at its memory's vCPU share; `cpuQuota`, else `cpus`, overrides it (a quota, not pinning).
        const cpus = this.opts.cpuQuota ?? this.opts.cpus ?? cpusFor(this.fn.memoryMb);
        const user = this.opts.user ?? LAMBDA_USER;
        this.id = await this.engine.createContainer(`ml-lambda-fn-${crypto.randomBytes(4).toString("hex")}`, {
            Image: this.image,
            User: user,
            Entrypoint: [RIE, "--runtime-interface-emulator-address", `127.0.0.1:${this.port}`, "--runtime-api-address", `127.0.0.1:${apiPort}`],
            Cmd: [BOOTSTRAP],
            Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
            HostConfig: {
                NetworkMode: "host",
                ReadonlyRootfs: true,
                Tmpfs: { "/tmp": `rw,nosuid,nodev,size=${this.fn.ephemeralStorageMb}m` },
                Memory: this.fn.memoryMb * 1024 * 1024,
                MemorySwap: this.fn.memoryMb * 1024 * 1024,
                NanoCpus: Math.round(cpus * 1e9),
            },
        });
        this.opts.log?.(`container ${this.id.slice(0, 12)}: user ${user}, read-only root, tmpfs /tmp ${this.fn.ephemeralStorageMb} MB, ` +
            `${this.fn.memoryMb} MB, ${cpus.toFixed(2)} CPU, emulator on 127.0.0.1:${this.port}`);
        const started = process.hrtime.bigint();
        await this.engine.startContainer(this.id);
        this.stopLogs = this.engine.followLogs(this.id, (l) => this.onLine(l));
        const timeoutMs = this.opts.startTimeoutMs ?? 15_000;
        const listening = await waitForPort(this.port, timeoutMs, async () => {
            const state = (await this.engine.inspectContainer(this.id)).State;
            if (!state.Running) {
                throw new DockerError(`the image's emulator exited before answering (exit ${state.ExitCode}${state.OOMKilled ? ", out of memory" : ""})`, await this.engine.containerLogs(this.id));
            }
            this.pid = state.Pid;
        });
        if (!listening) throw new DockerError(`the image's emulator did not listen on 127.0.0.1:${this.port} within ${timeoutMs / 1000} s`, await this.engine.containerLogs(this.id));
        return { port: this.port, sandboxMs: Number(process.hrtime.bigint() - started) / 1e6, image: { tag: this.image, container: this.id } };
    }

    /** Peak RSS of the runtime (the emulator's descendants) and the tmpfs /tmp in use, from the host's /proc. */
    private measure(): void {
        if (!this.pid) return;
        const mb = peakRssMb(descendants(this.pid));
        if (mb !== undefined) this.peakRssMb = Math.max(this.peakRssMb ?? 0, mb);
        try {
            const s = fs.statfsSync(`/proc/${this.pid}/root/tmp`);
            this.tmpUsedBytes = (s.blocks - s.bfree) * s.bsize;
        } catch {
            // not ours to read (a remote or rootless engine)
        }
    }

    async invoke(event: unknown): Promise<Invocation> {
        if (!this.id || this.stopped) throw new RunError("invoke() before start() or after stop()");
        const payload = typeof event === "string" ? event : JSON.stringify(event);
        const cold = this.invocations++ === 0;
        const before = this.lines.length;
        const res = await postInvoke(this.port, payload, (this.fn.timeoutS + 30) * 1000, (m) => new DockerError(m))
            .catch(async (e) => {
                throw new DockerError(`the image did not answer the invocation: ${(e as Error).message}`, await this.engine.containerLogs(this.id).catch(() => this.logs()));
            });
        // The REPORT line may trail the response through the log stream.
        let report: Report | undefined;
        const until = Date.now() + 2000;
        while (!report && Date.now() < until) {
            report = this.lines.slice(before).map(parseReportLine).find((r) => r !== undefined);
            if (!report) await new Promise((r) => setTimeout(r, 10));
        }
        this.measure();
        const fresh = this.lines.slice(before);
        return {
            ...readAnswer(res),
            cold,
            timeToFirstResponseMs: cold ? res.wallMs : undefined,
            initMs: cold ? fresh.map(initReportMs).find((v) => v !== undefined) : undefined,
            durationMs: report?.durationMs,
            invokeMs: fresh.map(invokeRtDoneMs).find((v) => v !== undefined),
            reportLine: report?.line,
            peakRssMb: this.peakRssMb,
            tmpUsedBytes: this.tmpUsedBytes,
        };
    }

    /** Stops and removes the container; idempotent. */
    async stop(): Promise<RunSummary> {
        if (!this.stopped) {
            this.stopped = true;
            this.stopLogs?.();
            if (this.id) {
                const id = this.id;
                try {
                    await this.engine.stopContainer(id, 1);
                } finally {
                    await this.engine.removeContainer(id);
                }
            }
        }
        return { peakRssMb: this.peakRssMb, tmpUsedBytes: this.tmpUsedBytes, log: this.logs() };
    }
}
