/**
 * The image path for the benchmark: the dev stack planned with packaging "image" (the component's own staged
 * context: the onnx profile pip-installed by the Dockerfile, which compiles its bytecode, and the model baked at
 * /opt/ml/model), built through a Docker engine on the local stand-in of AWS's Python base image, and run by
 * cli/imageRunner.ts (the runner `ml-lambda invoke --stack` uses for image stacks): non-root, read-only root, tmpfs
 * /tmp, the function's memory limit, and a CPU quota (`--cpus`) instead of pinning.
 *
 * Its time to first response runs from the container's start (the emulator and the runtime start inside it) to the
 * first response: a little more than the zip path's, which starts at the runtime. Without an engine (no Docker, no
 * root to start one) it returns why, and the benchmark records image_onnx as not measured.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { DockerEngine } from "../components/docker/engine";
import { ImageRunner } from "../cli/imageRunner";
import { buildStackImage, ImageStackPlan, planImageStack } from "../cli/imageStack";
import type { ColdSample } from "./deployed";

const ROOT = path.resolve(__dirname, "..");

export interface ImageBench {
    plan: ImageStackPlan;
    tag: string;
    /** One fresh container: the cold invoke, then `warm` more. */
    coldStart(o: { cpus: number; event: unknown; warm: number }): Promise<ColdSample>;
    /** Removes the image and stops the engine when this started it. */
    close(): Promise<void>;
}

function assignments(stdout: string): Record<string, string> {
    return Object.fromEntries(stdout.split("\n").map((l) => /^([A-Z_]+)=(.*)$/.exec(l.trim())).filter((m): m is RegExpExecArray => !!m).map((m) => [m[1], m[2]]));
}

export async function imageBench(env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<ImageBench | { skipped: string }> {
    const started = spawnSync("bash", ["scripts/docker-engine.sh", "start"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    if (started.status !== 0) return { skipped: "no Docker engine could be had (scripts/docker-engine.sh start failed)" };
    const engineEnv = assignments(started.stdout);
    process.env.DOCKER_HOST = engineEnv.DOCKER_HOST;
    const stopEngine = () => {
        if (engineEnv.ML_LAMBDA_DOCKERD_PID) spawnSync("bash", ["scripts/docker-engine.sh", "stop", engineEnv.ML_LAMBDA_DOCKERD_PID], { cwd: ROOT, stdio: "inherit" });
    };
    const engine = new DockerEngine();
    let tag = "";
    try {
        const base = spawnSync("bash", ["scripts/lambda-base-standin.sh", "3.12"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
        if (base.status !== 0) throw new Error("the base image stand-in could not be built (see above)");
        const baseImage = base.stdout.trim().split("\n").pop()!;
        // The plan runs in this process: give it the plan's environment (model hub stand-in, cache, export Python).
        const saved = { ...process.env };
        let plan: ImageStackPlan;
        try {
            Object.assign(process.env, env);
            plan = await planImageStack(ROOT, "dev", { "ml-lambda:packaging": "image" });
        } finally {
            process.env = saved;
            process.env.DOCKER_HOST = engineEnv.DOCKER_HOST;
        }
        tag = `ml-lambda-bench/image-onnx:${plan.image.imageName.split(":").pop()}`;
        log(`image path: building ${tag} from ${plan.image.context} on ${baseImage}`);
        const t = Date.now();
        await buildStackImage(engine, plan, { tag, baseImage, log: (l) => log(`  build | ${l}`) });
        log(`image path: built in ${((Date.now() - t) / 1000).toFixed(0)} s`);
        const spec = plan.fn;
        return {
            plan,
            tag,
            async coldStart(o) {
                const runner = new ImageRunner({ image: tag, spec, engine, cpus: o.cpus });
                try {
                    await runner.start();
                    const cold = await runner.invoke(o.event);
                    const ok = (r: typeof cold) => (r.response as { statusCode?: number } | undefined)?.statusCode === 200 && !r.functionError;
                    if (!ok(cold)) throw new Error(`image_onnx: ${cold.functionError ?? cold.status}: ${cold.body.slice(0, 300)}`);
                    const warm: number[] = [];
                    const warmWall: number[] = [];
                    for (let i = 0; i < o.warm; i++) {
                        const w = await runner.invoke(o.event);
                        if (!ok(w)) throw new Error(`image_onnx warm: ${w.body.slice(0, 300)}`);
                        warm.push(w.report?.durationMs ?? w.wallMs);
                        warmWall.push(w.wallMs);
                    }
                    return {
                        firstResponseMs: runner.firstResponseMs!,
                        initMs: runner.initReportMs() ?? NaN,
                        // The container's emulator logs no INVOKE RTDONE, and its first REPORT Duration includes the init.
                        firstInvokeMs: NaN,
                        peakRssMb: NaN, // the emulator in the container reports the memory size, not the runtime's use
                        tmpUsedMb: NaN, // not measured: the container's tmpfs is not read from outside
                        warmInvokeMs: warm,
                        warmRoundTripMs: warmWall,
                    };
                } finally {
                    await runner.stop();
                }
            },
            async close() {
                await engine.removeImage(tag).catch(() => false);
                await engine.pruneBuildCache().catch(() => 0);
                stopEngine();
            },
        };
    } catch (e) {
        if (tag) await engine.removeImage(tag).catch(() => false);
        stopEngine();
        return { skipped: `the image could not be built or run: ${(e as Error).message}` };
    }
}
