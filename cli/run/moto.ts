/**
 * A local S3 for the zip path: moto's server on 127.0.0.1, holding the exact objects the function reads (the model
 * archive) at their exact bucket and key. Plain HTTP requests create them, so the host needs no boto3: moto does not
 * check signatures, but it picks the service from the Authorization header's credential scope (without one, a PUT
 * lands nowhere and stores 0 bytes), hence s3Auth(). The server runs in its own process group and dies with us (setpriv --pdeathsig).
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { freePort, listenError, stopChild } from "../proc";
import type { S3Object } from "./types";
import { RunError } from "./types";

export interface MotoServer {
    endpoint: string;
    port: number;
    child: ChildProcess;
    log: string[];
}

/** Resolves when `port` on 127.0.0.1 can be bound now; rejects with a RunError naming it otherwise. */
export async function checkPortFree(port: number, what: string): Promise<void> {
    const code = await listenError(port);
    if (code) throw new RunError(`${what}: port ${port} on 127.0.0.1 is in use (${code}); stop what holds it or choose another port (omit it to pick a free one)`);
}

export function request(o: { port: number; method: string; path: string; body?: fs.ReadStream | string; length?: number; headers?: Record<string, string>; timeoutMs?: number }): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
        const headers: Record<string, string | number> = { ...(o.headers ?? {}) };
        if (o.length !== undefined) headers["Content-Length"] = o.length;
        const req = http.request({ host: "127.0.0.1", port: o.port, method: o.method, path: o.path, headers, timeout: o.timeoutMs ?? 60_000 }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
        });
        req.on("timeout", () => req.destroy(new Error(`${o.method} ${o.path}: no answer in time`)));
        req.on("error", reject);
        if (o.body === undefined || typeof o.body === "string") req.end(o.body);
        else o.body.pipe(req);
    });
}

/** An Authorization header moto routes to S3 (the signature is not checked). */
export function s3Auth(region: string): Record<string, string> {
    return { Authorization: `AWS4-HMAC-SHA256 Credential=AKIAMLLAMBDALOCAL000/20260101/${region}/s3/aws4_request, SignedHeaders=host, Signature=0` };
}

/** /bucket/key with each key segment percent-encoded (S3's path-style URL). */
export function objectPath(bucket: string, key: string): string {
    return `/${encodeURIComponent(bucket)}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

export async function startMoto(o: { server: string[]; port?: number; setpriv?: string; env: NodeJS.ProcessEnv; cpus?: string; taskset?: string; timeoutMs?: number }): Promise<MotoServer> {
    // A port we chose was free when chosen; one the caller gave is checked, to name it.
    if (o.port !== undefined) await checkPortFree(o.port, "moto (the local S3)");
    const port = o.port ?? await freePort();
    const cmd = [...o.server, "-H", "127.0.0.1", "-p", String(port)];
    if (o.setpriv) cmd.unshift(o.setpriv, "--pdeathsig", "KILL");
    // Off the function's CPUs when there are others: on Lambda, S3 does not share the function's vCPU.
    if (o.cpus && o.taskset) cmd.unshift(o.taskset, "-c", o.cpus);
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "pipe"], detached: true, env: o.env });
    const log: string[] = [];
    const collect = (c: Buffer) => log.push(...c.toString("utf8").split("\n").filter(Boolean));
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    let spawnError: Error | undefined;
    child.once("error", (e) => { spawnError = e; });
    const deadline = Date.now() + (o.timeoutMs ?? 30_000);
    const moto: MotoServer = { endpoint: `http://127.0.0.1:${port}`, port, child, log };
    for (;;) {
        if (spawnError) throw new RunError(`moto server (${o.server.join(" ")}) did not start: ${spawnError.message}`, 1);
        if (child.exitCode !== null || child.signalCode !== null) {
            const inUse = log.some((l) => /Address already in use/i.test(l));
            throw new RunError(inUse
                ? `moto (the local S3): port ${port} on 127.0.0.1 is in use; stop what holds it or omit the port to pick a free one`
                : `moto server (${o.server.join(" ")}) exited during start (code ${child.exitCode ?? child.signalCode}):\n${log.slice(-20).map((l) => `  | ${l}`).join("\n")}`, 1);
        }
        try {
            const r = await request({ port, method: "GET", path: "/moto-api/data.json", timeoutMs: 2000 });
            if (r.status === 200) return moto;
        } catch {
            // not listening yet
        }
        if (Date.now() > deadline) {
            stopChild(child);
            throw new RunError(`moto server (${o.server.join(" ")}) did not answer on 127.0.0.1:${port} within ${Math.round((o.timeoutMs ?? 30_000) / 1000)} s:\n${log.slice(-20).map((l) => `  | ${l}`).join("\n")}`, 1);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** Creates each bucket once and puts each object's exact bytes; checks the stored size. */
export async function putObjects(moto: MotoServer, objects: S3Object[], region: string): Promise<void> {
    const made = new Set<string>();
    for (const obj of objects) {
        if (!made.has(obj.bucket)) {
            const body = region === "us-east-1" ? "" :
                `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>${region}</LocationConstraint></CreateBucketConfiguration>`;
            const r = await request({ port: moto.port, method: "PUT", path: `/${encodeURIComponent(obj.bucket)}`, body, length: Buffer.byteLength(body), headers: s3Auth(region) });
            if (r.status !== 200) throw new RunError(`moto: creating bucket ${obj.bucket} answered ${r.status}: ${r.body.slice(0, 300)}`, 1);
            made.add(obj.bucket);
        }
        const size = fs.statSync(obj.file).size;
        const path = objectPath(obj.bucket, obj.key);
        const put = await request({ port: moto.port, method: "PUT", path, body: fs.createReadStream(obj.file), length: size, headers: { ...s3Auth(region), "Content-Type": "application/octet-stream", "x-amz-content-sha256": "UNSIGNED-PAYLOAD" }, timeoutMs: 300_000 });
        if (put.status !== 200) throw new RunError(`moto: putting s3://${obj.bucket}/${obj.key} answered ${put.status}: ${put.body.slice(0, 300)}`, 1);
        const head = await request({ port: moto.port, method: "HEAD", path, headers: s3Auth(region) });
        if (Number(head.headers["content-length"]) !== size) {
            throw new RunError(`moto: s3://${obj.bucket}/${obj.key} holds ${head.headers["content-length"]} bytes, not the ${size} of ${obj.file}`, 1);
        }
    }
}
