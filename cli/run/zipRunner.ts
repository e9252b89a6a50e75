/**
 * The zip-path runner: a DeployedFunction's code and layers unpacked into a private root (see ./sandbox.ts), the
 * runtime's CPython with only awslambdaric + boto3 beside it, aws-lambda-rie in front, and moto on 127.0.0.1 for
 * its S3 objects. One runner = one execution environment: its first invoke is the cold start.
 *
 * Process tree (host view):  [setpriv --pdeathsig KILL] [taskset -c CPUS] unshare -m -p -f --kill-child --mount-proc
 *   └─ aws-lambda-rie (pid 1 of a new PID namespace, after the mount script)  └─ runtime (python, chrooted, uid 993)
 * Stopping kills unshare; --kill-child then kills the namespace's init, and the kernel every process inside it.
 * If this Node process dies without stopping, pdeathsig does the same.
 */
import { ChildProcess, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { Architecture, Runtime } from "../../components/limits";
import { bindConflict, initReportMs, invokeRtDoneMs, parseReportLine, Report } from "./report";
import { checkPortFree, MotoServer, putObjects, startMoto } from "./moto";
import { descendants, freePort, peakRssMb, postInvoke, readAnswer, stopChild, waitForPort } from "../proc";
import { findRuntimePython, RuntimePython, runtimeMinor } from "./python";
import { lambdaEnvironment, logStreamName } from "./environment";
import { cpuList, GROUP, parseCpuList, PASSWD, sandboxScript } from "./sandbox";
import { ensureRuntimeDir, fileSha256, findMotoServer, findRie } from "./tools";
import type { Artifact, DeployedFunction, FunctionRunner, Invocation, ProbeReport, RunnerOptions, RunSummary, StartInfo } from "./types";
import { RunError } from "./types";
import { unpackZip } from "./unpack";


function which(name: string, env: NodeJS.ProcessEnv): string | undefined {
    const dirs = (env.PATH ?? "").split(path.delimiter).concat(["/usr/bin", "/usr/sbin", "/bin", "/sbin"]);
    for (const dir of dirs) {
        const f = path.join(dir, name);
        try {
            fs.accessSync(f, fs.constants.X_OK);
            if (fs.statSync(f).isFile()) return f;
        } catch {
            // next
        }
    }
    return undefined;
}

function hostArch(): Architecture {
    return process.arch === "arm64" ? "arm64" : "x86_64";
}

function comm(pid: number): string {
    try {
        return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {
        return "";
    }
}


/** Every process this module started and has not stopped: killed on exit, whatever the caller does. */
const live = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
    live.add(child);
    child.once("exit", () => live.delete(child));
    if (!exitHook) {
        exitHook = true;
        process.once("exit", () => {
            for (const c of live) {
                try {
                    if (c.pid) process.kill(-c.pid, "SIGKILL");
                } catch {
                    // gone
                }
            }
        });
    }
}

export class ZipRunner implements FunctionRunner {
    private child?: ChildProcess;
    private moto?: MotoServer;
    private log: string[] = [];
    private pending = "";
    private reports: Report[] = [];
    private initReports: number[] = [];
    private rtDone: number[] = [];
    private probes: ProbeReport[] = [];
    private port = 0;
    private invocations = 0;
    private peakRssMb?: number;
    private tmpUsedBytes?: number;
    private stopped = false;
    private cgroup?: string;
    private readonly env: NodeJS.ProcessEnv;
    private readonly say: (line: string) => void;

    constructor(readonly fn: DeployedFunction, readonly opts: RunnerOptions) {
        this.env = opts.hostEnv ?? process.env;
        this.say = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
    }

    /** Unpacks, finds or builds the tools, starts moto (when needed) and the sandboxed emulator. On failure it
     * stops whatever it had started before throwing. */
    async start(): Promise<StartInfo> {
        try {
            return await this.doStart();
        } catch (e) {
            await this.stop();
            throw e;
        }
    }

    /** Host pids of every process this runner started and that is still there (tests: nothing outlives stop()). */
    processIds(): number[] {
        const out: number[] = [];
        for (const c of [this.child, this.moto?.child]) {
            if (c?.pid && c.exitCode === null && c.signalCode === null) out.push(c.pid, ...descendants(c.pid));
        }
        return out;
    }

    private async doStart(): Promise<StartInfo> {
        const fn = this.fn;
        if (fn.packageType !== "Zip") throw new RunError(`function ${fn.name} is packaged as ${fn.packageType}: the zip runner runs Zip functions (the image runner runs images)`);
        if (!fn.code) throw new RunError(`function ${fn.name} has no code artifact`);
        if (fn.architecture !== hostArch()) {
            throw new RunError(`function ${fn.name} is built for ${fn.architecture}, this machine is ${hostArch()}: its native wheels cannot run here; ` +
                `run it on a ${fn.architecture} machine, or plan a stack with architecture ${hostArch()}`);
        }
        if (process.platform !== "linux") throw new RunError("the faithful run needs Linux (mount namespaces); on another system run the image path in Docker");
        const tools = {
            mount: which("mount", this.env), chroot: which("chroot", this.env), unshare: which("unshare", this.env),
            setpriv: which("setpriv", this.env), taskset: which("taskset", this.env),
        };
        for (const t of ["mount", "chroot", "unshare"] as const) {
            if (!tools[t]) throw new RunError(`\`${t}\` not found on PATH: the faithful run needs util-linux's unshare and mount, and coreutils' chroot`);
        }
        const minor = runtimeMinor(fn.runtime);
        const python: RuntimePython = findRuntimePython(fn.runtime, this.env);
        const cacheDir = path.resolve(this.opts.cacheDir);
        const rie = findRie(cacheDir, this.env, this.say);
        const runtimeDir = ensureRuntimeDir({ runtime: fn.runtime as Runtime, arch: fn.architecture, python: python.executable, cacheDir, log: this.say });
        const code = await this.materialize(fn.code, "code");
        const layers: string[] = [];
        for (const [i, l] of fn.layers.entries()) layers.push(await this.materialize(l, `layer ${i + 1}`));
        for (const m of fn.extraMounts ?? []) {
            if (!path.isAbsolute(m.target) || /^\/(var\/(task|lang|runtime)|tmp)(\/|$)/.test(m.target)) {
                throw new RunError(`extra mount target ${m.target}: must be an absolute path outside /var/task, /var/lang, /var/runtime and /tmp`);
            }
        }

        const runDir = path.join(cacheDir, "run");
        const mnt = path.join(runDir, "mnt");
        const mountPoint = path.join(mnt, "root");
        const scratchPoint = path.join(mnt, "scratch");
        fs.mkdirSync(mountPoint, { recursive: true });
        fs.mkdirSync(scratchPoint, { recursive: true });
        const passwdFile = path.join(runDir, "etc-passwd");
        const groupFile = path.join(runDir, "etc-group");
        if (!fs.existsSync(passwdFile) || fs.readFileSync(passwdFile, "utf8") !== PASSWD) fs.writeFileSync(passwdFile, PASSWD, { mode: 0o644 });
        if (!fs.existsSync(groupFile) || fs.readFileSync(groupFile, "utf8") !== GROUP) fs.writeFileSync(groupFile, GROUP, { mode: 0o644 });
        for (const p of [...layers, ...(fn.extraMounts ?? []).map((m) => m.source)]) {
            if (/[:,]/.test(p)) throw new RunError(`${p}: a path with ':' or ',' cannot be an overlay layer; move the cache (ML_LAMBDA_CACHE_DIR)`);
        }

        // CPUs: the first N this process may use; moto gets the others when there are any.
        let cpus: string | undefined;
        let motoCpus: string | undefined;
        if (this.opts.cpus !== undefined) {
            const allowed = parseCpuList(/Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0");
            if (!Number.isInteger(this.opts.cpus) || this.opts.cpus < 1 || this.opts.cpus > allowed.length) {
                throw new RunError(`--cpus ${this.opts.cpus}: this machine lets us use ${allowed.length} CPU(s) (${allowed.join(",")}); give 1..${allowed.length}`);
            }
            if (!tools.taskset) throw new RunError("--cpus needs `taskset` (util-linux) on PATH");
            cpus = cpuList(allowed, this.opts.cpus);
            if (allowed.length > this.opts.cpus) motoCpus = allowed.slice(this.opts.cpus).join(",");
        }

        const ports = this.opts.ports ?? {};
        let s3Endpoint: string | undefined;
        if (fn.s3Objects.length > 0) {
            for (const o of fn.s3Objects) {
                if (!fs.existsSync(o.file)) throw new RunError(`s3://${o.bucket}/${o.key}: its file ${o.file} is missing`);
                if (o.sha256 && fileSha256(o.file, cacheDir) !== o.sha256) throw new RunError(`s3://${o.bucket}/${o.key}: ${o.file} is not the object the plan recorded (sha256 differs)`);
            }
            const server = findMotoServer(cacheDir, this.env, this.say);
            // moto gets the host's environment minus anything AWS-ish that could point it elsewhere.
            const motoEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(this.env).filter(([k]) => !k.startsWith("AWS_")));
            this.moto = await startMoto({ server, port: ports.moto, setpriv: tools.setpriv, env: motoEnv, cpus: motoCpus, taskset: tools.taskset });
            track(this.moto.child);
            await putObjects(this.moto, fn.s3Objects, fn.region);
            s3Endpoint = this.moto.endpoint;
        }

        if (this.opts.cpuQuota !== undefined) this.cgroup = makeCpuCgroup(this.opts.cpuQuota);
        const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
        const mode = this.opts.sandbox && this.opts.sandbox !== "auto" ? this.opts.sandbox : asRoot ? "root" : "userns";
        // Ports the caller gave are checked once, to name them; they are its to fix. A port we chose was free when
        // chosen but can be taken before the emulator binds it (it then panics with EADDRINUSE): chosen again, up to
        // 3 tries.
        if (ports.emulator !== undefined) await checkPortFree(ports.emulator, "the emulator's invoke endpoint");
        if (ports.runtimeApi !== undefined) await checkPortFree(ports.runtimeApi, "the emulator's runtime API");
        let started = process.hrtime.bigint();
        for (let attempt = 1; ; attempt++) {
            this.port = ports.emulator ?? await freePort();
            const runtimeApi = ports.runtimeApi ?? await freePort();
            const script = sandboxScript({
                mountPoint, scratchPoint, code, layers, pythonPrefix: python.prefix, pythonMinor: minor,
                runtimeDir: runtimeDir.runtime, sitePackagesDir: runtimeDir.sitePackages, passwdFile, groupFile,
                ephemeralStorageMb: fn.ephemeralStorageMb, extraMounts: fn.extraMounts ?? [],
                tools: { mount: tools.mount!, chroot: tools.chroot!, setpriv: tools.setpriv, rie },
                dropPrivileges: mode === "root", ports: { emulator: this.port, runtimeApi }, handler: fn.handler,
                cgroupProcs: this.cgroup ? path.join(this.cgroup, "cgroup.procs") : undefined,
            });
            const env = lambdaEnvironment(fn, { runtime: fn.runtime, s3Endpoint, logStream: logStreamName(new Date(), crypto.randomBytes(16).toString("hex")), probe: this.opts.probe });
            const argv: string[] = [];
            if (tools.setpriv) argv.push(tools.setpriv, "--pdeathsig", "KILL");
            if (cpus) argv.push(tools.taskset!, "-c", cpus);
            argv.push(tools.unshare!, ...(mode === "userns" ? ["-r"] : []), "-m", "-p", "-f", "--kill-child", "--mount-proc", "--propagation", "private", "/bin/sh", "-c", script);
            started = process.hrtime.bigint();
            try {
                await this.spawnSandbox(argv, env, mode);
                break;
            } catch (e) {
                const fixed = ports.emulator !== undefined && ports.runtimeApi !== undefined;
                const taken = bindConflict(this.log.join("\n"));
                if (attempt >= 3 || fixed || !taken) throw e;
                this.say(`the emulator could not bind ${taken} (taken after it was chosen); starting again on other ports`);
                if (this.child) await stopChild(this.child, 500);
                this.child = undefined;
                this.log = [];
                this.pending = "";
            }
        }
        const sandboxMs = Number(process.hrtime.bigint() - started) / 1e6;
        return { port: this.port, sandboxMs, python: { path: python.executable, version: python.version, prefix: python.prefix }, s3Endpoint };
    }

    /** Starts the sandbox and waits until the emulator listens on this.port; throws a RunError with the log's tail. */
    private async spawnSandbox(argv: string[], env: NodeJS.ProcessEnv, mode: string): Promise<void> {
        const child = spawn(argv[0], argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"], detached: true, cwd: "/" });
        this.child = child;
        track(child);
        child.stdout!.on("data", (c: Buffer) => { if (this.child === child) this.onData(c); });
        child.stderr!.on("data", (c: Buffer) => { if (this.child === child) this.onData(c); });
        let spawnError: Error | undefined;
        child.once("error", (e) => { spawnError = e; });
        try {
            const listening = await waitForPort(this.port, 15_000, () => {
                if (spawnError || child.exitCode !== null || child.signalCode !== null) throw new RunError(`the sandbox exited before the emulator listened:\n${this.tail(30)}`, 1);
            }, 20);
            if (!listening) throw new RunError(`the emulator did not listen on 127.0.0.1:${this.port} in time:\n${this.tail(30)}`, 1);
        } catch (e) {
            const text = this.log.join("\n");
            if (/permission denied|Operation not permitted|cannot open|unshare failed/i.test(text)) {
                throw new RunError(`the faithful run could not create its private mount namespace (${mode === "root" ? "unshare -m as root" : "unshare -rm: unprivileged user namespaces"}):\n${this.tail(15)}\n` +
                    `It needs Linux with ${mode === "root" ? "CAP_SYS_ADMIN (a container must be privileged)" : "unprivileged user namespaces enabled (sysctl kernel.unprivileged_userns_clone=1), or run it as root"}.`, 1);
            }
            throw e;
        }
    }

    private async materialize(a: Artifact, what: string): Promise<string> {
        if ("dir" in a) {
            if (!fs.existsSync(a.dir) || !fs.statSync(a.dir).isDirectory()) throw new RunError(`${what}: ${a.dir} is not a directory`);
            return path.resolve(a.dir);
        }
        if (!fs.existsSync(a.zip)) throw new RunError(`${what}: ${a.zip} is missing`);
        const sha = fileSha256(a.zip, this.opts.cacheDir);
        if (a.sha256 && a.sha256 !== sha) throw new RunError(`${what}: ${a.zip} has sha256 ${sha}, not the ${a.sha256} recorded for it: it was rebuilt or changed since`);
        return unpackZip(a.zip, sha, path.resolve(this.opts.cacheDir), this.say);
    }

    private onData(chunk: Buffer): void {
        this.pending += chunk.toString("utf8");
        const lines = this.pending.split("\n");
        this.pending = lines.pop() ?? "";
        for (const line of lines) {
            if (line.startsWith("ML_LAMBDA_PROBE ")) {
                try {
                    this.probes.push(JSON.parse(line.slice("ML_LAMBDA_PROBE ".length)));
                } catch {
                    // a truncated line: the test will say the probe is missing
                }
                continue;
            }
            this.log.push(line);
            const report = parseReportLine(line);
            if (report) this.reports.push(report);
            const init = initReportMs(line);
            if (init !== undefined) this.initReports.push(init);
            const done = invokeRtDoneMs(line);
            if (done !== undefined) this.rtDone.push(done);
            if (!this.stopped) this.opts.onOutput?.(line);
        }
    }

    private tail(n: number): string {
        return this.log.slice(-n).map((l) => `  | ${l}`).join("\n");
    }

    /** The runtime processes (the emulator's descendants): host pids. */
    private runtimePids(): number[] {
        if (!this.child?.pid) return [];
        const all = descendants(this.child.pid);
        const rie = all.find((p) => comm(p) === "aws-lambda-rie");
        return rie ? descendants(rie) : [];
    }

    private measure(): void {
        const pids = this.runtimePids();
        const mb = peakRssMb(pids);
        if (mb !== undefined) this.peakRssMb = Math.max(this.peakRssMb ?? 0, mb);
        for (const p of pids) {
            try {
                const s = fs.statfsSync(`/proc/${p}/root/tmp`);
                this.tmpUsedBytes = (s.blocks - s.bfree) * s.bsize;
                break;
            } catch {
                // not chrooted (the bootstrap shell) or gone: try the next
            }
        }
    }

    async invoke(event: unknown): Promise<Invocation> {
        if (!this.child || this.stopped) throw new RunError("invoke() before start() or after stop()");
        const payload = typeof event === "string" ? event : JSON.stringify(event);
        const cold = this.invocations === 0;
        this.invocations++;
        const before = { reports: this.reports.length, probes: this.probes.length, rtDone: this.rtDone.length };
        const res = await postInvoke(this.port, payload, (this.fn.timeoutS + 30) * 1000, (m) => new RunError(m, 1));
        // The REPORT (and probe) lines travel through a pipe and may trail the response.
        const until = Date.now() + 3000;
        while (Date.now() < until && (this.reports.length <= before.reports || (this.opts.probe && this.probes.length <= before.probes))) {
            if (this.child.exitCode !== null) break;
            await new Promise((r) => setTimeout(r, 5));
        }
        this.measure();
        const report = this.reports[before.reports];
        return {
            ...readAnswer(res),
            cold,
            timeToFirstResponseMs: cold ? res.wallMs : undefined,
            initMs: cold ? this.initReports[0] : undefined,
            durationMs: report?.durationMs,
            invokeMs: this.rtDone.length > before.rtDone ? this.rtDone[before.rtDone] : undefined,
            reportLine: report?.line,
            peakRssMb: this.peakRssMb,
            tmpUsedBytes: this.tmpUsedBytes,
            probe: this.opts.probe ? this.probes[before.probes] : undefined,
        };
    }

    /** Stops the emulator, the runtime and moto; idempotent. */
    async stop(): Promise<RunSummary> {
        if (!this.stopped) {
            this.stopped = true;
            if (this.child) await stopChild(this.child, 500);
            if (this.moto) await stopChild(this.moto.child, 1500);
            if (this.pending) { this.log.push(this.pending); this.pending = ""; }
            if (this.cgroup) await removeCgroup(this.cgroup);
        }
        return { peakRssMb: this.peakRssMb, tmpUsedBytes: this.tmpUsedBytes, log: [...this.log] };
    }

    /** The moto server's own output (for error reports). */
    motoLog(): string[] {
        return this.moto?.log ?? [];
    }
}

/**
 * A cgroup of our own with a CFS quota of `cpus` CPUs (cgroup v2's cpu.max, or v1's cpu.cfs_quota_us): Lambda's way
 * of giving a function its memory's vCPU share. Removed by stop() once its processes are gone.
 */
export function makeCpuCgroup(cpus: number): string {
    if (!(cpus > 0)) throw new RunError(`cpuQuota ${cpus}: give a positive number of CPUs (e.g. the memory's share, memory / 1769)`);
    const period = 100_000;
    const quota = Math.max(1000, Math.round(cpus * period));
    const name = `ml-lambda-${process.pid}-${Date.now()}`;
    const v2 = "/sys/fs/cgroup";
    const attempts: string[] = [];
    try {
        if (fs.readFileSync(path.join(v2, "cgroup.controllers"), "utf8").split(/\s+/).includes("cpu")) {
            const dir = path.join(v2, name);
            fs.mkdirSync(dir);
            fs.writeFileSync(path.join(dir, "cpu.max"), `${quota} ${period}`);
            return dir;
        }
    } catch (e) {
        attempts.push(`v2: ${(e as Error).message}`);
    }
    try {
        const dir = path.join(v2, "cpu", name);
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, "cpu.cfs_period_us"), String(period));
        fs.writeFileSync(path.join(dir, "cpu.cfs_quota_us"), String(quota));
        return dir;
    } catch (e) {
        attempts.push(`v1: ${(e as Error).message}`);
    }
    throw new RunError(`cpuQuota needs a writable cgroup cpu controller (root, a cgroup v1 /sys/fs/cgroup/cpu or v2 with cpu enabled): ${attempts.join("; ")}`);
}

async function removeCgroup(dir: string): Promise<void> {
    for (let i = 0; i < 50; i++) {
        try {
            fs.rmdirSync(dir);
            return;
        } catch {
            await new Promise((r) => setTimeout(r, 50)); // its last processes are still exiting
        }
    }
}

/** Is `pid`'s process group empty (every process we started is gone)? */
export function groupGone(pgid: number): boolean {
    try {
        process.kill(-pgid, 0);
        return false;
    } catch {
        return true;
    }
}
