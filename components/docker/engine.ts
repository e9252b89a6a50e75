/**
 * A small client for the Docker Engine API over its unix socket: the calls @pulumi/docker's `docker.Image` makes
 * (build with BuildKit, push, inspect for the repo digest) plus what the image tests need to run a container.
 * No Docker CLI: the engine here may be Debian's 20.10 with a newer CLI beside it that refuses BuildKit without
 * the buildx plugin, while the engine's own BuildKit (what pulumi-docker drives through the API) works.
 *
 * What `docker.Image` does (pulumi-docker provider/image.go, v4/v5), and what `buildImage` reproduces:
 *   POST /build?version=2 (BuilderBuildKit) with the context as a tar whose entries are owned by 0:0, the
 *   Dockerfile path, build args, platform and the image name as tag; then POST /images/{name}/push with an
 *   X-Registry-Auth header; then GET /images/{name}/json and RepoDigests[0] as `repoDigest`.
 * pulumi-docker also opens a BuildKit session (only for registry credentials during the build); we do not, as
 * nothing here pulls from a private registry during the build.
 */
import * as crypto from "crypto";
import * as http from "http";
import { decodeStatus, VertexProgress } from "./buildkit";
import { tarDirectory } from "./tar";

export class DockerError extends Error {
    constructor(message: string, readonly details: string[] = []) {
        super(message);
        this.name = "DockerError";
    }
}

/** The engine's socket: DOCKER_HOST (unix:// only), else /var/run/docker.sock. */
export function dockerSocket(env: NodeJS.ProcessEnv = process.env): string {
    const host = env.DOCKER_HOST;
    if (!host) return "/var/run/docker.sock";
    if (!host.startsWith("unix://")) {
        throw new DockerError(`DOCKER_HOST=${host}: only a local engine on a unix socket is supported here (unix:///path/docker.sock)`);
    }
    return host.slice("unix://".length);
}

interface Response {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
}

export class DockerEngine {
    private apiVersion = "";

    constructor(readonly socketPath: string = dockerSocket()) {}

    /** Raw request; `body` may be a Buffer, a string or a readable stream. */
    request(method: string, urlPath: string, opts: { body?: Buffer | string | NodeJS.ReadableStream; headers?: Record<string, string>; timeoutMs?: number; onData?: (chunk: Buffer) => void } = {}): Promise<Response> {
        return new Promise((resolve, reject) => {
            const req = http.request({ socketPath: this.socketPath, path: urlPath, method, headers: { Host: "docker", ...(opts.headers ?? {}) }, timeout: opts.timeoutMs ?? 0 }, (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => {
                    if (opts.onData) opts.onData(c);
                    else chunks.push(c);
                });
                res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
                res.on("error", reject);
            });
            req.on("timeout", () => req.destroy(new DockerError(`${method} ${urlPath}: no answer from the Docker engine at ${this.socketPath}`)));
            req.on("error", (e: NodeJS.ErrnoException) => {
                if (e.code === "ENOENT" || e.code === "ECONNREFUSED" || e.code === "EACCES") {
                    reject(new DockerError(`no Docker engine answers at unix://${this.socketPath} (${e.code}): start one ` +
                        "(`eval \"$(bash scripts/docker-engine.sh start)\"` installs and starts dockerd as root) or set DOCKER_HOST"));
                } else reject(e);
            });
            const body = opts.body;
            if (body === undefined) req.end();
            else if (typeof body === "string" || Buffer.isBuffer(body)) req.end(body);
            else (body as NodeJS.ReadableStream).pipe(req);
        });
    }

    private async api(method: string, p: string, opts: Parameters<DockerEngine["request"]>[2] = {}): Promise<Response> {
        if (!this.apiVersion) await this.version();
        return this.request(method, `/v${this.apiVersion}${p}`, opts);
    }

    private async json<T>(method: string, p: string, body?: unknown, ok = [200, 201, 204]): Promise<T> {
        const res = await this.api(method, p, body === undefined ? {} : { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
        if (!ok.includes(res.status)) throw new DockerError(`${method} ${p}: HTTP ${res.status}: ${res.body.toString("utf8").trim()}`);
        return (res.body.length ? JSON.parse(res.body.toString("utf8")) : undefined) as T;
    }

    /** Server version; also fixes the API version used for every later call (the server's own). */
    async version(): Promise<{ Version: string; ApiVersion: string; MinAPIVersion?: string; Os: string; Arch: string }> {
        const res = await this.request("GET", "/version", { timeoutMs: 10_000 });
        if (res.status !== 200) throw new DockerError(`GET /version: HTTP ${res.status}`);
        const v = JSON.parse(res.body.toString("utf8"));
        this.apiVersion = v.ApiVersion;
        return v;
    }

    async info(): Promise<{ Driver: string; ServerVersion: string; NCPU: number; MemTotal: number }> {
        return this.json("GET", "/info");
    }

    /** The network RUN steps get: "host" on an engine without a bridge network (dockerd --bridge=none), else its default. */
    async buildNetwork(): Promise<"host" | undefined> {
        const networks = JSON.parse((await this.request("GET", "/networks")).body.toString("utf8")) as Array<{ Name: string }>;
        return networks.some((n) => n.Name === "bridge") ? undefined : "host";
    }

    async inspectImage(name: string): Promise<ImageInspect | undefined> {
        const res = await this.api("GET", `/images/${encodeURIComponent(name)}/json`);
        if (res.status === 404) return undefined;
        if (res.status !== 200) throw new DockerError(`inspect ${name}: HTTP ${res.status}: ${res.body.toString()}`);
        return JSON.parse(res.body.toString("utf8"));
    }

    async history(name: string): Promise<Array<{ Id: string; Created: number; CreatedBy: string; Size: number; Comment: string }>> {
        return this.json("GET", `/images/${encodeURIComponent(name)}/history`);
    }

    async removeImage(name: string): Promise<boolean> {
        const res = await this.api("DELETE", `/images/${encodeURIComponent(name)}?force=1`);
        return res.status === 200;
    }

    /** Removes BuildKit's build cache (what `docker builder prune -af` does); returns the bytes it freed. */
    async pruneBuildCache(): Promise<number> {
        const res = await this.json<{ SpaceReclaimed?: number }>("POST", "/build/prune?all=1");
        return res?.SpaceReclaimed ?? 0;
    }

    /**
     * Builds like docker.Image with builderVersion BuilderBuildKit (or BuilderV1 with `builder: "1"`): the context
     * directory as a tar (entries owned by 0:0, modes kept), streamed progress, and on failure the failing step's
     * name and its output.
     */
    async buildImage(opts: BuildOptions): Promise<BuildResult> {
        const started = Date.now();
        const query = new URLSearchParams({
            t: opts.tag,
            dockerfile: opts.dockerfile ?? "Dockerfile",
            buildargs: JSON.stringify(opts.buildArgs ?? {}),
            version: opts.builder ?? "2",
            rm: "1",
            forcerm: "1",
        });
        if (opts.platform) query.set("platform", opts.platform);
        if (opts.noCache) query.set("nocache", "1");
        if (opts.network) query.set("networkmode", opts.network);
        const tar = tarDirectory(opts.context);
        const progress = new BuildProgress(opts.log ?? (() => undefined));
        const lines = lineSplitter((line) => progress.line(line));
        const res = await this.api("POST", `/build?${query}`, {
            body: tar,
            headers: { "Content-Type": "application/x-tar" },
            onData: (chunk) => lines.push(chunk.toString("utf8")),
        });
        lines.flush();
        const seconds = (Date.now() - started) / 1000;
        if (res.status !== 200) {
            throw new DockerError(`docker build of ${opts.context}: HTTP ${res.status}: ${res.body.toString("utf8").trim()}`);
        }
        if (progress.error) {
            const failed = progress.failedStep();
            throw new DockerError(
                `docker build failed${failed ? ` at step "${failed.name}"` : ""}: ${progress.error}`,
                failed ? failed.logs : progress.tail(40),
            );
        }
        const image = await this.inspectImage(opts.tag);
        if (!image) throw new DockerError(`docker build reported success but ${opts.tag} does not exist`);
        return { id: image.Id, tag: opts.tag, seconds, steps: progress.steps(), cachedSteps: progress.steps().filter((s) => s.cached).length };
    }

    /** Push as docker.Image does; returns RepoDigests[0] of the pushed name (docker.Image's `repoDigest`). */
    async push(name: string, auth: { username?: string; password?: string; serveraddress?: string } = {}, log: (line: string) => void = () => undefined): Promise<{ repoDigest: string; pushedDigest: string; seconds: number }> {
        const started = Date.now();
        const [repo, tag] = splitTag(name);
        const header = Buffer.from(JSON.stringify(auth)).toString("base64url");
        let error = "";
        let pushedDigest = "";
        const lines = lineSplitter((line) => {
            if (!line.trim()) return;
            const msg = JSON.parse(line);
            if (msg.error) error = msg.error;
            const m = /digest: (sha256:[0-9a-f]{64})/.exec(msg.status ?? "");
            if (m) pushedDigest = m[1];
            if (msg.status && !msg.progressDetail?.current) log(`${msg.id ? msg.id + ": " : ""}${msg.status}`);
        });
        const res = await this.api("POST", `/images/${encodeURIComponent(repo)}/push?tag=${encodeURIComponent(tag)}`, {
            headers: { "X-Registry-Auth": header },
            onData: (chunk) => lines.push(chunk.toString("utf8")),
        });
        if (res.status !== 200 || error) throw new DockerError(`docker push ${name}: ${error || `HTTP ${res.status}`}`);
        const image = await this.inspectImage(name);
        const repoDigest = image?.RepoDigests?.find((d) => d.startsWith(`${repo}@`)) ?? image?.RepoDigests?.[0] ?? "";
        return { repoDigest, pushedDigest, seconds: (Date.now() - started) / 1000 };
    }

    async createContainer(name: string, spec: Record<string, unknown>): Promise<string> {
        const res = await this.json<{ Id: string }>("POST", `/containers/create?name=${encodeURIComponent(name)}`, spec, [201]);
        return res.Id;
    }

    async startContainer(id: string): Promise<void> {
        await this.json("POST", `/containers/${id}/start`, undefined, [204, 304]);
    }

    async inspectContainer(id: string): Promise<{ State: { Running: boolean; ExitCode: number; Status: string; OOMKilled: boolean; Pid: number }; Config: Record<string, unknown> }> {
        return this.json("GET", `/containers/${id}/json`);
    }

    /** The container's stdout+stderr so far (demultiplexed), as lines. */
    async containerLogs(id: string): Promise<string[]> {
        const res = await this.api("GET", `/containers/${id}/logs?stdout=1&stderr=1`);
        return demux(res.body).split("\n").filter((l) => l.length > 0);
    }

    /** Follows the logs, calling `onLine` for each line until the container stops; returns a stop function. */
    followLogs(id: string, onLine: (line: string) => void): () => void {
        let pending: Buffer = Buffer.alloc(0);
        const lines = lineSplitter(onLine);
        const req = http.request({ socketPath: this.socketPath, path: `/v${this.apiVersion}/containers/${id}/logs?follow=1&stdout=1&stderr=1`, method: "GET", headers: { Host: "docker" } }, (res) => {
            res.on("data", (c: Buffer) => {
                const frames = demuxFrames(Buffer.concat([pending, c]));
                pending = frames.rest;
                lines.push(frames.text);
            });
            res.on("error", () => undefined);
        });
        req.on("error", () => undefined);
        req.end();
        return () => req.destroy();
    }

    async stopContainer(id: string, timeoutS = 2): Promise<void> {
        await this.api("POST", `/containers/${id}/stop?t=${timeoutS}`);
    }

    async removeContainer(id: string): Promise<void> {
        await this.api("DELETE", `/containers/${id}?force=1&v=1`);
    }

    /** Runs a command in a new container of `image` to completion; returns its exit code and output. */
    async runToCompletion(image: string, cmd: string[], opts: { entrypoint?: string[]; user?: string; env?: string[]; readOnly?: boolean } = {}): Promise<{ exitCode: number; output: string[] }> {
        const name = `ml-lambda-run-${crypto.randomBytes(4).toString("hex")}`;
        const id = await this.createContainer(name, {
            Image: image,
            Cmd: cmd,
            Entrypoint: opts.entrypoint ?? [],
            User: opts.user ?? "",
            Env: opts.env ?? [],
            HostConfig: { NetworkMode: "none", ReadonlyRootfs: opts.readOnly ?? true, Tmpfs: { "/tmp": "rw,size=64m" } },
        });
        try {
            await this.startContainer(id);
            const wait = await this.json<{ StatusCode: number }>("POST", `/containers/${id}/wait`);
            return { exitCode: wait.StatusCode, output: await this.containerLogs(id) };
        } finally {
            await this.removeContainer(id);
        }
    }
}

export interface ImageInspect {
    Id: string;
    RepoTags: string[] | null;
    RepoDigests: string[] | null;
    Size: number;
    Architecture: string;
    Os: string;
    Config: { Env: string[] | null; Cmd: string[] | null; Entrypoint: string[] | null; WorkingDir: string; User: string };
    RootFS: { Type: string; Layers: string[] };
}

export interface BuildOptions {
    context: string;
    tag: string;
    dockerfile?: string;
    buildArgs?: Record<string, string>;
    platform?: string;
    noCache?: boolean;
    /** Network for RUN steps (docker.Image's build.network): "host" on an engine without a bridge network. */
    network?: string;
    /** "2" = BuildKit (docker.Image's BuilderBuildKit), "1" = the classic builder. */
    builder?: "1" | "2";
    log?: (line: string) => void;
}

export interface BuildResult {
    id: string;
    tag: string;
    seconds: number;
    steps: VertexProgress[];
    cachedSteps: number;
}

export function splitTag(name: string): [string, string] {
    const at = name.lastIndexOf(":");
    if (at > name.lastIndexOf("/")) return [name.slice(0, at), name.slice(at + 1)];
    return [name, "latest"];
}


/**
 * The complete frames of a non-TTY container log stream (each an 8-byte header: stream, 0, 0, 0, big-endian
 * length; then the payload), and the bytes of a last frame not complete yet.
 */
function demuxFrames(buf: Buffer): { text: string; rest: Buffer } {
    let text = "";
    let i = 0;
    while (i + 8 <= buf.length) {
        const len = buf.readUInt32BE(i + 4);
        if (i + 8 + len > buf.length) break;
        text += buf.subarray(i + 8, i + 8 + len).toString("utf8");
        i += 8 + len;
    }
    return { text, rest: buf.subarray(i) };
}

/** Demultiplexes a whole non-TTY container log (a cut last frame gives what it holds). */
export function demux(buf: Buffer): string {
    const { text, rest } = demuxFrames(buf);
    return rest.length > 8 ? text + rest.subarray(8).toString("utf8") : text;
}

/** Splits text that arrives in chunks into lines; flush() hands over a last line that has no newline. */
function lineSplitter(onLine: (line: string) => void): { push(text: string): void; flush(): void } {
    let pending = "";
    return {
        push(text) {
            pending += text;
            const lines = pending.split("\n");
            pending = lines.pop() ?? "";
            for (const l of lines) onLine(l);
        },
        flush() {
            if (pending.trim()) onLine(pending);
            pending = "";
        },
    };
}

/** Follows a build's JSON message stream: classic "stream" lines and BuildKit's "moby.buildkit.trace" records. */
export class BuildProgress {
    error = "";
    private vertexes = new Map<string, VertexProgress>();
    private order: string[] = [];
    private classic: string[] = [];
    private announced = new Set<string>();

    constructor(private readonly log: (line: string) => void) {}

    line(raw: string): void {
        if (!raw.trim()) return;
        let msg: any;
        try {
            msg = JSON.parse(raw);
        } catch {
            return;
        }
        if (msg.error) this.error = msg.errorDetail?.message ?? msg.error;
        if (typeof msg.stream === "string") {
            for (const l of msg.stream.split("\n")) {
                if (!l.trim()) continue;
                this.classic.push(l);
                if (/^Step \d+\/\d+ : /.test(l)) this.log(l);
            }
        }
        if (msg.id === "moby.buildkit.trace" && typeof msg.aux === "string") {
            const status = decodeStatus(Buffer.from(msg.aux, "base64"));
            for (const v of status.vertexes) {
                let cur = this.vertexes.get(v.digest);
                if (!cur) {
                    cur = { digest: v.digest, name: v.name, cached: false, logs: [] };
                    this.vertexes.set(v.digest, cur);
                    this.order.push(v.digest);
                }
                if (v.name) cur.name = v.name;
                if (v.cached) cur.cached = true;
                if (v.started !== undefined) cur.started = v.started;
                if (v.completed !== undefined) cur.completed = v.completed;
                if (v.error) cur.error = v.error;
                if (cur.started !== undefined && !this.announced.has(`s${v.digest}`) && !cur.name.startsWith("[internal]")) {
                    this.announced.add(`s${v.digest}`);
                    if (!cur.cached) this.log(`${cur.name}`);
                }
                if (cur.completed !== undefined && !this.announced.has(`c${v.digest}`) && !cur.name.startsWith("[internal]")) {
                    this.announced.add(`c${v.digest}`);
                    const secs = cur.started !== undefined ? ((cur.completed - cur.started) / 1000).toFixed(1) : "?";
                    this.log(`${cur.cached ? "CACHED " : "done   "}${cur.name}${cur.cached ? "" : ` (${secs} s)`}${cur.error ? ` ERROR: ${cur.error}` : ""}`);
                }
            }
            for (const l of status.logs) {
                const cur = this.vertexes.get(l.vertex);
                const text = l.msg.toString("utf8");
                for (const line of text.split("\n")) {
                    if (!line) continue;
                    cur?.logs.push(line);
                }
            }
        }
    }

    steps(): VertexProgress[] {
        return this.order.map((d) => this.vertexes.get(d)!).filter((v) => !v.name.startsWith("[internal]"));
    }

    failedStep(): VertexProgress | undefined {
        const bk = this.order.map((d) => this.vertexes.get(d)!).find((v) => v.error);
        if (bk) return bk;
        // Classic builder: the last "Step N/M" line and what followed it.
        const idx = this.classic.map((l, i) => (/^Step \d+\/\d+ : /.test(l) ? i : -1)).filter((i) => i >= 0).pop();
        if (idx === undefined) return undefined;
        return { digest: "", name: this.classic[idx], cached: false, logs: this.classic.slice(idx + 1) };
    }

    tail(n: number): string[] {
        return this.classic.slice(-n);
    }
}
