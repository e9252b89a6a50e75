/**
 * Process and port helpers shared by every runner (the faithful zip run, the image run, the source run, the moto
 * servers): one place for what each used to carry its own copy of.
 */
import { ChildProcess } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";

export function isExecutable(file: string): boolean {
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}

/** The first executable `name` on env.PATH. */
export function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
    for (const dir of (env.PATH ?? "").split(path.delimiter)) {
        if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
    }
    return undefined;
}

/** The kernel's range for the source ports of outgoing connections (net.ipv4.ip_local_port_range). */
export function ephemeralRange(file = "/proc/sys/net/ipv4/ip_local_port_range"): [number, number] {
    try {
        const [lo, hi] = fs.readFileSync(file, "utf8").trim().split(/\s+/).map(Number);
        if (Number.isInteger(lo) && Number.isInteger(hi) && lo > 0 && hi >= lo) return [lo, hi];
    } catch {
        // not Linux: the IANA dynamic range
    }
    return [49152, 65535];
}

/** Where freePort looks: [FREE_PORT_LOW, start of the ephemeral range). */
export const FREE_PORT_LOW = 10_000;
const handedOut = new Set<number>();

/** Why 127.0.0.1:port cannot be bound now (the error code, e.g. EADDRINUSE), or undefined when it can. */
export function listenError(port: number): Promise<string | undefined> {
    return new Promise((resolve) => {
        const server = net.createServer();
        server.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        server.listen(port, "127.0.0.1", () => server.close(() => resolve(undefined)));
    });
}

/**
 * A port on 127.0.0.1 that nothing listens on now. It is taken below the kernel's ephemeral range: a port the kernel
 * picked (listen(0)) is one it may also give an outgoing connection as its source port before our child binds it,
 * and then the child's bind fails with EADDRINUSE (the emulator's runtime API did, in CI). A port this process has
 * already handed out is not handed out again. Falls back to the kernel's choice when the range is too small.
 */
export async function freePort(rangeFile?: string): Promise<number> {
    const [lo] = ephemeralRange(rangeFile);
    const span = lo - FREE_PORT_LOW;
    if (span >= 1000) {
        if (handedOut.size > span / 2) handedOut.clear();
        for (let i = 0; i < 64; i++) {
            const port = FREE_PORT_LOW + Math.floor(Math.random() * span);
            if (handedOut.has(port)) continue;
            if ((await listenError(port)) === undefined) {
                handedOut.add(port);
                return port;
            }
        }
    }
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const port = (server.address() as net.AddressInfo).port;
            server.close(() => resolve(port));
        });
    });
}

/** Whether something accepts connections on 127.0.0.1:port. */
export function connects(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => { socket.destroy(); resolve(true); });
        socket.once("error", () => resolve(false));
    });
}

/**
 * Polls until 127.0.0.1:port accepts a connection (true) or the time is up (false). `check` runs before each try
 * and throws when what should listen has died, so a crash is reported at once rather than at the deadline.
 */
export async function waitForPort(port: number, timeoutMs: number, check: () => void | Promise<void>, intervalMs = 25): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        await check();
        if (await connects(port)) return true;
        await new Promise((r) => setTimeout(r, intervalMs));
    }
    return false;
}

/** Children of a process (Linux /proc), all threads; [] when it is gone or not on Linux. */
export function childPids(pid: number): number[] {
    const out: number[] = [];
    try {
        for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
            const children = fs.readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
            for (const c of children ? children.split(/\s+/) : []) out.push(Number(c));
        }
    } catch {
        // gone, or not Linux
    }
    return out;
}

/** Every descendant of a process, depth first. */
export function descendants(pid: number): number[] {
    const out: number[] = [];
    const walk = (p: number) => {
        for (const c of childPids(p)) {
            out.push(c);
            walk(c);
        }
    };
    walk(pid);
    return out;
}

/**
 * Peak resident memory (VmHWM, MiB) summed over a process's descendants (the runtime an emulator started and
 * whatever it spawned), not the process itself: Lambda does not bill the emulator. Linux only (/proc).
 */
export function peakRssMb(pids: number[]): number | undefined {
    let totalKb = 0;
    let seen = false;
    for (const p of pids) {
        try {
            const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, "utf8"));
            if (m) {
                totalKb += Number(m[1]);
                seen = true;
            }
        } catch {
            // Exited between listing and reading: count what could be read.
        }
    }
    return seen ? totalKb / 1024 : undefined;
}

/** SIGTERM to the child's process group, SIGKILL after a grace period; resolves when the child is gone. */
export function stopChild(child: ChildProcess, graceMs = 1500): Promise<void> {
    return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null || !child.pid) return resolve();
        const kill = (sig: NodeJS.Signals) => {
            try {
                process.kill(-child.pid!, sig);
            } catch {
                // gone
            }
        };
        const t = setTimeout(() => kill("SIGKILL"), graceMs);
        child.once("exit", () => { clearTimeout(t); resolve(); });
        kill("SIGTERM");
    });
}

/** The emulator's invoke endpoint (aws-lambda-rie), the same on every path. */
export const INVOKE_PATH = "/2015-03-31/functions/function/invocations";

export interface EmulatorResponse {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
    /** Request sent to response fully received. */
    wallMs: number;
}

/** POSTs an event to an emulator on 127.0.0.1:port; a response later than timeoutMs fails with the runner's own error. */
export function postInvoke(port: number, payload: string, timeoutMs: number, onTimeout: (message: string) => Error): Promise<EmulatorResponse> {
    return new Promise((resolve, reject) => {
        const started = process.hrtime.bigint();
        const req = http.request({
            host: "127.0.0.1", port, path: INVOKE_PATH, method: "POST",
            headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }, timeout: timeoutMs,
        }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => resolve({
                status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"),
                wallMs: Number(process.hrtime.bigint() - started) / 1e6,
            }));
        });
        req.on("timeout", () => req.destroy(onTimeout(`no response within ${Math.round(timeoutMs / 1000)} s`)));
        req.on("error", reject);
        req.end(payload);
    });
}

/** The emulator's answer read as the caller of Lambda reads it: status, payload (raw and parsed), round trip and,
 * when the function failed, why (X-Amz-Function-Error, an errorType payload, the emulator's timeout message, or a
 * non-200 status). */
export function readAnswer(res: EmulatorResponse): { status: number; body: string; response: unknown; functionError?: string; roundTripMs: number } {
    let response: unknown;
    try {
        response = JSON.parse(res.body);
    } catch {
        response = undefined;
    }
    const errorType = response && typeof response === "object" && "errorType" in (response as object) ? String((response as { errorType: unknown }).errorType) : undefined;
    const timedOut = /^Task timed out after/.test(res.body);
    const functionError = (res.headers["x-amz-function-error"] as string | undefined) ?? errorType ?? (timedOut ? "Task timed out" : res.status !== 200 ? `HTTP ${res.status}` : undefined);
    return { status: res.status, body: res.body, response, functionError, roundTripMs: res.wallMs };
}
