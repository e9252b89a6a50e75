/**
 * The image-path half of `ml-lambda invoke --stack <name>`: plan the stack offline, build its staged context the
 * way docker.Image does, and invoke the image as Lambda runs it (ImageRunner: non-root, read-only root, tmpfs
 * /tmp, the function's memory, CPU share and environment). The zip path's faithful runner owns the command; when
 * the stack's packaging is "image" it hands over to invokeImageStack with the same options.
 *
 * Options beyond the zip path's: baseImage (BASE_IMAGE build arg, e.g. the local stand-in from
 * scripts/lambda-base-standin.sh where public.ecr.aws cannot be reached; ML_LAMBDA_BASE_IMAGE), torchIndexUrl
 * (a mirror of the PyTorch CPU index; ML_LAMBDA_TORCH_INDEX_URL). The image is kept under a local tag
 * (ml-lambda-local/<function>:<context hash>), so a second invoke of an unchanged stack starts at once.
 */
import { DockerEngine, DockerError } from "../components/docker/engine";
import { ImageRunner, InvokeResult } from "./imageRunner";
import { buildStackImage, planImageStack } from "./imageStack";

export interface InvokeImageOptions {
    projectDir: string;
    stack: string;
    event: unknown;
    repeat?: number;
    cpus?: number;
    baseImage?: string;
    torchIndexUrl?: string;
    log?: (line: string) => void;
}

export interface InvokeImageResult {
    image: string;
    results: InvokeResult[];
    /** Container start → first response. */
    firstResponseMs?: number;
    /** The emulator's INIT REPORT for the first invoke. */
    initReportMs?: number;
    logs: string[];
}

export async function invokeImageStack(opts: InvokeImageOptions): Promise<InvokeImageResult> {
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const engine = new DockerEngine();
    const plan = await planImageStack(opts.projectDir, opts.stack);
    log(`stack ${opts.stack}: image path, building ${plan.image.context} (BuildKit, ${plan.image.platform})`);
    const built = await buildStackImage(engine, plan, {
        baseImage: opts.baseImage ?? process.env.ML_LAMBDA_BASE_IMAGE,
        torchIndexUrl: opts.torchIndexUrl ?? process.env.ML_LAMBDA_TORCH_INDEX_URL,
        log: (l) => log(`  build | ${l}`),
    });
    log(`built ${built.tag} in ${built.seconds.toFixed(1)} s (${built.cachedSteps} of ${built.steps.length} steps cached)`);
    const runner = new ImageRunner({ image: built.tag, spec: plan.fn, engine, cpus: opts.cpus, log });
    const results: InvokeResult[] = [];
    try {
        await runner.start();
        for (let i = 0; i < (opts.repeat ?? 1); i++) {
            const r = await runner.invoke(opts.event);
            results.push(r);
            log(`[${i + 1}/${opts.repeat ?? 1} ${i === 0 ? "cold" : "warm"}] ${r.report?.line ?? "(no REPORT line)"}; round trip ${r.wallMs.toFixed(1)} ms` +
                (i === 0 ? `; first response ${runner.firstResponseMs?.toFixed(0)} ms after the container started` : ""));
        }
        return { image: built.tag, results, firstResponseMs: runner.firstResponseMs, initReportMs: runner.initReportMs(), logs: runner.logs() };
    } catch (e) {
        if (e instanceof DockerError && !e.details.length) throw new DockerError(e.message, runner.logs());
        throw e;
    } finally {
        await runner.stop();
    }
}
