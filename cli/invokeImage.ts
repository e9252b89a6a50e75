/**
 * The image path's preparation for `ml-lambda invoke --stack <name>`: plan the stack offline, build its staged
 * context the way docker.Image does, and return the function with the built image's tag, which createRunner runs in
 * ImageRunner (non-root, read-only root, tmpfs /tmp, the function's memory, CPU share and environment). From there
 * `invoke` drives it exactly as it drives a zip function.
 *
 * Options beyond the zip path's: baseImage (BASE_IMAGE build arg, e.g. the local stand-in from
 * scripts/lambda-base-standin.sh where public.ecr.aws cannot be reached; ML_LAMBDA_BASE_IMAGE), torchIndexUrl
 * (a mirror of the PyTorch CPU index; ML_LAMBDA_TORCH_INDEX_URL). The image is kept under a local tag
 * (ml-lambda-local/<function>:<context hash>), so a second invoke of an unchanged stack starts at once.
 */
import { DockerEngine } from "../components/docker/engine";
import { buildStackImage, planImageStack } from "./imageStack";
import type { DeployedFunction } from "./run/types";

export interface BuildImageFunctionOptions {
    projectDir: string;
    stack: string;
    baseImage?: string;
    torchIndexUrl?: string;
    engine?: DockerEngine;
    log?: (line: string) => void;
}

export async function buildImageFunction(opts: BuildImageFunctionOptions): Promise<DeployedFunction> {
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const engine = opts.engine ?? new DockerEngine();
    const plan = await planImageStack(opts.projectDir, opts.stack);
    log(`stack ${opts.stack}: image path, building ${plan.image.context} (BuildKit, ${plan.image.platform})`);
    const built = await buildStackImage(engine, plan, {
        baseImage: opts.baseImage ?? process.env.ML_LAMBDA_BASE_IMAGE,
        torchIndexUrl: opts.torchIndexUrl ?? process.env.ML_LAMBDA_TORCH_INDEX_URL,
        log: (l) => log(`  build | ${l}`),
    });
    log(`built ${built.tag} in ${built.seconds.toFixed(1)} s (${built.cachedSteps} of ${built.steps.length} steps cached)`);
    return { ...plan.fn, image: { ...plan.fn.image!, tag: built.tag } };
}
