/**
 * The faithful run: a deployed Lambda function run locally the way Lambda runs it, from its real artifacts.
 *
 * Using it (all you need; the other modules are its parts):
 *
 *   import { createRunner, loadManifest, deployedFunction } from "./cli/run";
 *   const fn = deployedFunction(loadManifest(projectDir, "dev"));      // what `ml-lambda plan` recorded, checked
 *   //   or describe one yourself, e.g. from zips downloaded back from an emulator (issue 12):
 *   //   { name, packageType: "Zip", runtime: "python3.12", handler, architecture: "x86_64", memoryMb, timeoutS,
 *   //     ephemeralStorageMb, region, environment: {...verbatim}, code: { zip }, layers: [{ zip }, ...],
 *   //     s3Objects: [{ bucket, key, file }] }            (see DeployedFunction in ./types.ts)
 *   const runner = createRunner(fn, { cacheDir, cpus: 1 });
 *   try {
 *       const info = await runner.start();                 // unpack, tools, moto, sandbox; emulator listening
 *       const cold = await runner.invoke({ texts: ["hi"] }); // first invoke = cold start (init + this request)
 *       const warm = await runner.invoke(event);           // same environment, warm
 *   } finally {
 *       await runner.stop();                               // always; idempotent; nothing is left running
 *   }
 *
 * Invocation: status, body, response (parsed), functionError, cold, roundTripMs, and for the cold one
 * timeToFirstResponseMs (runtime start → first response: the emulator starts the runtime on the first invoke) and
 * initMs (the emulator's INIT REPORT); durationMs (REPORT Duration of that invoke alone), peakRssMb (VmHWM of the
 * runtime), tmpUsedBytes, and with `probe: true` (tests) a ProbeReport: every loaded module's origin, mapped files,
 * sys.path, env, writability of /var/task, /opt..., /tmp at start.
 *
 * Zip functions run in ZipRunner (./zipRunner.ts: private mount namespace, code at /var/task and layers at /opt
 * read-only, fresh /tmp, the runtime's CPython at /var/lang with boto3 as its site-packages, awslambdaric and the
 * bootstrap at /var/runtime, aws-lambda-rie, moto for S3 objects). Image functions run in Docker in ImageRunner
 * (cli/imageRunner.ts: the image named by fn.image.tag, which cli/imageStack.ts builds from the plan's context). Both
 * report the same Invocation figures and share cli/run/environment.ts and cli/run/report.ts.
 * Errors are RunError with a message that names the setting, the value and the fix.
 */
import type { DeployedFunction, FunctionRunner, RunnerOptions } from "./types";
import { RunError } from "./types";
import { ZipRunner } from "./zipRunner";
import { ImageRunner } from "../imageRunner";

export * from "./types";
export { deployedFunction, loadManifest, manifestPath, planCommand, recordDeployment, buildManifest, writeManifest } from "./manifest";
export type { DeploymentManifest, ManifestFunction } from "./manifest";
export { ZipRunner } from "./zipRunner";
export { ImageRunner } from "../imageRunner";
export { findRuntimePython } from "./python";
export { lambdaEnvironment, logStreamName } from "./environment";
export { vcpuShare } from "./sandbox";
export { parseReportLine, initReportMs, handlerDurationMs } from "./report";

type Factory = (fn: DeployedFunction, opts: RunnerOptions) => FunctionRunner;
const factories: Partial<Record<DeployedFunction["packageType"], Factory>> = {
    Zip: (fn, opts) => new ZipRunner(fn, opts),
    Image: (fn, opts) => new ImageRunner(fn, opts),
};

export function createRunner(fn: DeployedFunction, opts: RunnerOptions): FunctionRunner {
    const factory = factories[fn.packageType];
    if (!factory) throw new RunError(`function ${fn.name}: packageType ${fn.packageType} is neither Zip nor Image`);
    return factory(fn, opts);
}

/** start → invoke each event in order → stop (even on failure). The first invocation is the cold one. */
export async function runEvents(fn: DeployedFunction, events: unknown[], opts: RunnerOptions) {
    const runner = createRunner(fn, opts);
    try {
        const start = await runner.start();
        const invocations = [];
        for (const e of events) invocations.push(await runner.invoke(e));
        const summary = await runner.stop();
        return { start, invocations, summary };
    } finally {
        await runner.stop();
    }
}
