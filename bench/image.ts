/**
 * The image path for the benchmark: the dev stack planned with packaging "image" (the component's own staged
 * context: the onnx profile pip-installed by the Dockerfile, which compiles its bytecode, and the model baked at
 * /opt/ml/model), built through a Docker engine on the local stand-in of AWS's Python base image. bench/deployed.ts's
 * coldStart runs it like every other variant, through createRunner, which picks cli/imageRunner.ts (the runner
 * `ml-lambda invoke --stack` uses for image stacks): non-root, read-only root, tmpfs /tmp, the function's memory
 * limit, and a CPU quota (`cpus`) instead of pinning. Its figures mean what the zip path's mean (time to first
 * response = runtime start to first response; peak RSS of the runtime; /tmp in use).
 * Without an engine (no Docker, no root to start one) it returns why, and the benchmark records image_onnx as not
 * measured.
 */
import * as path from "path";
import { DockerEngine } from "../components/docker/engine";
import { buildStackImage, ImageStackPlan, planImageStack } from "../cli/imageStack";
import type { DeployedFunction } from "../cli/run/types";
import { standinBaseImage, startLocalEngine } from "../scripts/local-engine";

const ROOT = path.resolve(__dirname, "..");

export interface ImageBench {
    plan: ImageStackPlan;
    tag: string;
    /** The dev stack's function with the built image's tag: bench/deployed.ts's coldStart runs it (ImageRunner). */
    fn: DeployedFunction;
    /** Removes the image and stops the engine when this started it. */
    close(): Promise<void>;
}

export async function imageBench(env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<ImageBench | { skipped: string }> {
    const local = startLocalEngine();
    if (!local) return { skipped: "no Docker engine could be had (scripts/docker-engine.sh start failed)" };
    const stopEngine = () => local.stop();
    const engine = new DockerEngine();
    let tag = "";
    try {
        const baseImage = standinBaseImage("3.12", { ...process.env, ...env });
        // The plan runs in this process: give it the plan's environment (model hub stand-in, cache, export Python).
        const saved = { ...process.env };
        let plan: ImageStackPlan;
        try {
            Object.assign(process.env, env);
            plan = await planImageStack(ROOT, "dev", { "ml-lambda:packaging": "image" });
        } finally {
            process.env = saved;
            process.env.DOCKER_HOST = local.dockerHost;
        }
        tag = `ml-lambda-bench/image-onnx:${plan.image.imageName.split(":").pop()}`;
        log(`image path: building ${tag} from ${plan.image.context} on ${baseImage}`);
        const t = Date.now();
        await buildStackImage(engine, plan, { tag, baseImage, log: (l) => log(`  build | ${l}`) });
        log(`image path: built in ${((Date.now() - t) / 1000).toFixed(0)} s`);
        return {
            plan,
            tag,
            fn: { ...plan.fn, image: { ...plan.fn.image!, tag } },
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
