/**
 * `ml-lambda invoke --stack NAME`: the faithful run of the stack's recorded build (cli/run), as a command. A zip
 * function runs in cli/run's ZipRunner; an image function is first built from the plan's staged context
 * (cli/invokeImage.ts) and then runs in ImageRunner (Docker, as Lambda runs an image), driven by the same loop.
 * stdout: the response (--json: exactly the last response object); stderr: what ran, the REPORT lines and the
 * figures we measure. Exit 0: answered; 1: the function failed (its log follows); 2: a setup or usage error;
 * 130: interrupted (everything started is stopped first).
 */
import * as path from "path";
import { defaultCacheDir } from "../components/validate";
import { InvokeOptions, printResponse, readEvent } from "./invoke";
import { cpusFor } from "./imageRunner";
import { createRunner, deployedFunction, loadManifest, vcpuShare } from "./run";
import type { Invocation } from "./run";

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** The figures line for one invocation (also what the benchmark parses). */
export function figuresLine(inv: Invocation): string {
    const parts: string[] = [];
    if (inv.cold) {
        if (inv.timeToFirstResponseMs !== undefined) parts.push(`time to first response ${inv.timeToFirstResponseMs.toFixed(0)} ms (runtime start to first response)`);
        if (inv.initMs !== undefined) parts.push(`init ${inv.initMs.toFixed(0)} ms (the emulator's INIT REPORT)`);
    }
    if (inv.invokeMs !== undefined) parts.push(`${inv.cold ? "first invoke alone" : "invoke"} ${inv.invokeMs.toFixed(1)} ms (the emulator's INVOKE RTDONE)`);
    if (!inv.cold) parts.push(`round trip ${inv.roundTripMs.toFixed(1)} ms`);
    if (inv.peakRssMb !== undefined) parts.push(`max memory ${inv.peakRssMb.toFixed(0)} MB (peak RSS of the runtime)`);
    if (inv.tmpUsedBytes !== undefined) parts.push(`/tmp used ${mb(inv.tmpUsedBytes)}`);
    return parts.join("; ");
}

export async function invokeStack(opts: InvokeOptions): Promise<number> {
    const projectDir = path.resolve(opts.project ?? ".");
    const payload = readEvent(opts.event);
    const manifest = loadManifest(projectDir, opts.stack!, process.env.ML_LAMBDA_CACHE_DIR ? defaultCacheDir() : undefined);
    const recorded = deployedFunction(manifest, opts.functionName);
    const cacheDir = process.env.ML_LAMBDA_CACHE_DIR ? defaultCacheDir() : manifest.cacheDir;
    const note = (line: string) => process.stderr.write(`${line}\n`);
    const fn = recorded.packageType === "Image"
        ? await (await import("./invokeImage")).buildImageFunction({ projectDir, stack: opts.stack!, log: note })
        : recorded;
    const shown: string[] = [];
    const runner = createRunner(fn, {
        cacheDir,
        cpus: opts.cpus,
        ports: opts.port ? { emulator: opts.port } : undefined,
        log: note,
        onOutput: (line) => {
            shown.push(line);
            // The function's own log lines (JSON) are worth seeing; the emulator's chatter is not.
            if (!opts.json && !/^\d\d \w{3} \d{4} [\d:,]+ \[(INFO|DEBUG)\]/.test(line) && !/^(START|END|REPORT) RequestId/.test(line)) note(`  | ${line}`);
        },
    });
    let interrupted = false;
    const onSignal = () => {
        interrupted = true;
        note(`ml-lambda invoke: interrupted; stopping the function, the emulator${fn.s3Objects.length ? " and moto" : ""}`);
        runner.stop().finally(() => process.exit(130));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
        const share = vcpuShare(fn.memoryMb);
        const image = fn.packageType === "Image";
        const cpus = image
            ? `a quota of ${(opts.cpus ?? cpusFor(fn.memoryMb)).toFixed(2)} CPU`
            : opts.cpus ? `pinned to ${opts.cpus} CPU(s)` : "not pinned (--cpus N pins)";
        note(`FAITHFUL RUN of stack "${manifest.stack}" (the build planned ${manifest.plannedAt}): ${fn.name}, ${image ? "container image" : fn.runtime} ${fn.architecture}, ` +
            `${fn.memoryMb.toLocaleString("en-US")} MB (~${share.toFixed(2)} vCPU on Lambda), ${cpus}`);
        const info = await runner.start();
        if (info.python) {
            note(`  runtime: CPython ${info.python.version} (${info.python.prefix}) as /var/lang; code + ${fn.layers.length} layer(s) read-only; /tmp ${fn.ephemeralStorageMb} MB` +
                (info.s3Endpoint ? `; ${fn.s3Objects.map((o) => `s3://${o.bucket}/${o.key}`).join(", ")} served by moto at ${info.s3Endpoint}` : ""));
        }
        if (info.image) note(`  image: ${info.image.tag} in container ${info.image.container.slice(0, 12)}; read-only root; /tmp ${fn.ephemeralStorageMb} MB (tmpfs)`);
        let last: Invocation | undefined;
        let failed = false;
        for (let i = 0; i < opts.repeat; i++) {
            last = await runner.invoke(payload);
            const label = opts.repeat > 1 ? `[${i + 1}/${opts.repeat} ${last.cold ? "cold" : "warm"}] ` : "";
            note(`${label}${last.reportLine ?? "(no REPORT line from the emulator)"}`);
            note(`${label}measured by ml-lambda: ${figuresLine(last)}`);
            if (last.functionError) failed = true;
        }
        if (!last) return 1;
        printResponse(opts.json, last.status, last.body, last.response);
        const summary = await runner.stop();
        if (failed) {
            note(`ml-lambda invoke: the function failed (${last.functionError}); its last log lines:`);
            for (const line of summary.log.slice(-40)) note(`  | ${line}`);
            return 1;
        }
        return 0;
    } catch (e) {
        const summary = await runner.stop();
        if (interrupted) return 130; // the in-flight invoke failed because we stopped it
        if (summary.log.length) {
            note("ml-lambda invoke: the emulator's last lines:");
            for (const line of summary.log.slice(-25)) note(`  | ${line}`);
        }
        throw e;
    } finally {
        process.removeListener("SIGINT", onSignal);
        process.removeListener("SIGTERM", onSignal);
        await runner.stop();
    }
}
