/**
 * A stack on the image path, run locally: the program runs under Pulumi's mock engine (the offline plan) to get the
 * docker.Image and aws.lambda.Function inputs the component registers, the staged context is built the way
 * docker.Image builds it, and the image is run by ImageRunner (cli/imageRunner.ts) with the function's settings.
 * For `ml-lambda invoke --stack <image-stack>` and `npm run test:image`.
 *
 *   const plan = await planImageStack(projectDir, "prod");
 *   const built = await buildStackImage(engine, plan, { baseImage });
 *   const runner = createRunner({ ...plan.fn, image: { ...plan.fn.image!, tag: built.tag } }, { cacheDir });
 *   await runner.start(); const r = await runner.invoke(event); await runner.stop();
 */
import * as path from "path";
import { BuildResult, DockerEngine } from "../components/docker/engine";
import { MLLAMBDA_TYPE } from "../components/identity";
import type { DeployedFunction } from "./run/types";
import { runOffline } from "./offline";

export interface ImageStackPlan {
    packaging: string;
    image: {
        context: string;
        /** Relative to the context. */
        dockerfile: string;
        platform: string;
        args: Record<string, string>;
        builderVersion: string;
        network?: string;
        /** What docker.Image tags and pushes: <repository URL>:<context hash>. */
        imageName: string;
    };
    /** The function as the image runner runs it (packageType "Image"; handler "" when the image's CMD names it). */
    fn: DeployedFunction;
    /** The component's size report, as registered. */
    sizeReport?: unknown;
}

/** The image path's resources of a stack, from the program run offline. Fails clearly on a zip-path stack. */
export async function planImageStack(projectDir: string, stack: string, configOverrides?: Record<string, string>): Promise<ImageStackPlan> {
    const run = await runOffline({ projectDir, stack, preview: true, configOverrides });
    const comp = run.resources.find((r) => r.type === MLLAMBDA_TYPE);
    const img = run.resources.find((r) => r.type === "docker:index/image:Image");
    const fn = run.resources.find((r) => r.type === "aws:lambda/function:Function");
    if (!comp || !fn) throw new Error(`stack ${stack}: the program registered no MlLambda function`);
    if (!img) throw new Error(`stack ${stack} deploys the ${comp.inputs.packaging} path, not an image: run it with the zip path's runner`);
    const b = img.inputs.build;
    const env = fn.inputs.environment?.variables ?? {};
    return {
        packaging: comp.inputs.packaging,
        sizeReport: comp.inputs.sizeReport,
        image: {
            context: b.context,
            dockerfile: path.relative(b.context, b.dockerfile),
            platform: b.platform,
            args: b.args ?? {},
            builderVersion: b.builderVersion,
            network: b.network,
            imageName: img.inputs.imageName,
        },
        fn: {
            name: fn.inputs.name,
            packageType: fn.inputs.packageType === "Image" ? "Image" : "Zip",
            runtime: "",
            handler: fn.inputs.imageConfig?.commands?.[0] ?? "",
            architecture: fn.inputs.architectures?.[0] === "arm64" ? "arm64" : "x86_64",
            memoryMb: fn.inputs.memorySize,
            timeoutS: fn.inputs.timeout,
            ephemeralStorageMb: fn.inputs.ephemeralStorage?.size ?? 512,
            region: run.stack.config["aws:region"] ?? "us-east-1",
            environment: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])),
            logging: fn.inputs.loggingConfig ? {
                format: fn.inputs.loggingConfig.logFormat, applicationLogLevel: fn.inputs.loggingConfig.applicationLogLevel, logGroup: fn.inputs.loggingConfig.logGroup,
            } : undefined,
            layers: [],
            s3Objects: [],
            image: { context: b.context, dockerfile: path.relative(b.context, b.dockerfile), buildArgs: b.args ?? {}, platform: b.platform, imageName: img.inputs.imageName },
        },
    };
}

/** docker.Image's name with its registry host replaced (a local registry, or none for a local-only tag). */
export function localImageName(imageName: string, registry = "ml-lambda-local"): { name: string; repository: string; tag: string } {
    const m = /^[^/]+\/(.+):([^:/]+)$/.exec(imageName);
    if (!m) throw new Error(`unexpected docker.Image name ${imageName}`);
    return { name: `${registry}/${m[1]}:${m[2]}`, repository: m[1], tag: m[2] };
}

export interface BuildStackImageOptions {
    /** Tag to build as; default localImageName(imageName).name. */
    tag?: string;
    /** BASE_IMAGE build arg: a local stand-in where AWS's base image cannot be pulled (scripts/lambda-base-standin.sh). */
    baseImage?: string;
    /** TORCH_INDEX_URL build arg: a mirror of the PyTorch CPU index. */
    torchIndexUrl?: string;
    noCache?: boolean;
    log?: (line: string) => void;
}

/** Builds the stack's staged context as docker.Image does (BuildKit through the Engine API). */
export async function buildStackImage(engine: DockerEngine, plan: ImageStackPlan, opts: BuildStackImageOptions = {}): Promise<BuildResult & { network: string }> {
    const network = plan.image.network ?? await engine.buildNetwork();
    const buildArgs: Record<string, string> = { ...plan.image.args };
    if (opts.baseImage) buildArgs.BASE_IMAGE = opts.baseImage;
    if (opts.torchIndexUrl) buildArgs.TORCH_INDEX_URL = opts.torchIndexUrl;
    const result = await engine.buildImage({
        context: plan.image.context,
        dockerfile: plan.image.dockerfile,
        tag: opts.tag ?? localImageName(plan.image.imageName).name,
        buildArgs,
        platform: plan.image.platform,
        builder: plan.image.builderVersion === "BuilderV1" ? "1" : "2",
        network,
        noCache: opts.noCache,
        log: opts.log,
    });
    return { ...result, network: network ?? "default" };
}
