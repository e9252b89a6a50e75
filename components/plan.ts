/**
 * The plan: build, measure and decide, before any resource exists. Everything the graph's shape depends on (zip or
 * image, which artifacts, their hashes) is known when preparePackaging returns, so a mistake or an impossible
 * packaging fails before the component registers anything, and the offline plan sees the same decision as `up`.
 * Pulumi-free: the component (mlLambda.ts) only wires resources from a PackagingPlan.
 */
import * as path from "path";
import { engineAnswersSync, measureImageSync } from "./docker/measure";
import { MlLambdaError } from "./errors";
import { IMAGE_LIMIT_BYTES, RUNTIMES } from "./limits";
import { prepareModel, PreparedModel } from "./model";
import { buildLayer, decide, Decision, LayerBuild, Measurement, PackageSize, zipDirectory } from "./packaging";
import { stageImageContext, StagedContext } from "./packaging/imageContext";
import { checkImageSize, ImageMeasurement, imageSizeReport, ImageSizeReport } from "./packaging/imageSize";
import { pinnedRequirements, PinnedRequirements } from "./packaging/lock";
import type { NormalizedArgs } from "./validate";

/** What was built and decided before any resource exists. */
export interface PackagingPlan {
    decision: Decision;
    model: PreparedModel;
    /** What the dependencies were built from: the requirements file, or the pins exported from a uv.lock. */
    requirements: PinnedRequirements;
    /** Built unless packaging is forced to "image". */
    layer?: LayerBuild;
    /** The function code zip (measured on both paths; deployed on the zip path). */
    code: { zipPath: string; bytes: number; sha256: string; measurement: Measurement };
    externalLayerBytes: number;
    /** Image path only. */
    context?: StagedContext;
    /** Image path, when the image was built and measured at plan time (see PlanOptions.measureImage). */
    image?: ImageMeasurement;
    packages: PackageSize[];
}

export interface PlanOptions {
    /**
     * Image path: build the staged context once through the Docker engine and measure the image (uncompressed
     * size, layers), refusing one over Lambda's 10 GiB limit before anything is pushed. The component asks for it
     * on `pulumi up` (not in previews, not under the mock engine); without an answering engine that fails,
     * naming Docker.
     */
    measureImage?: boolean;
}

interface MeasuredParts {
    codeBytes: number;
    /** The dependency layer's unzipped size when one was built (on the image path: the measurement that ruled zip out). */
    layerBytes: number;
    externalLayerBytes: number;
    /** The largest packages of the dependency layer (at most 25). */
    packages: PackageSize[];
}

/** Zip path: code + layers against Lambda's 262,144,000-byte unzipped limit. */
export type ZipSizeReport = Decision & MeasuredParts & { mode: "zip" };

/**
 * Image path: the image against Lambda's 10 GiB container image limit, never the zip limit. totalBytes is the
 * image's uncompressed size when it was measured; `image` says how (or why it was not).
 */
export type ImagePathSizeReport = MeasuredParts & {
    mode: "image";
    reasons: string[];
    limitBytes: number;
    totalBytes?: number;
    image: ImageSizeReport;
};

/**
 * The size report exported as a stack output, registered on the component (so tools reading the graph see the
 * decision) and printed during preview/up: the decision itself, plus what was measured.
 */
export type SizeReport = ZipSizeReport | ImagePathSizeReport;

/** Build, measure and decide: everything the graph's shape depends on, before any resource exists. */
export function preparePackaging(cfg: NormalizedArgs, opts: PlanOptions = {}): PackagingPlan {
    const model = prepareModel(cfg.model, cfg.cacheDir, cfg.backend, { architecture: cfg.architecture });
    const zipPath = path.join(cfg.cacheDir, "code", `${cfg.functionName}.zip`);
    const built = zipDirectory(cfg.handlerDir, zipPath, { exclude: ["__pycache__", "*.pyc", "tests"] });
    const code = { zipPath, bytes: built.bytes, sha256: built.sha256, measurement: built.measurement };
    const externalLayerBytes = cfg.layers.map((l) => l.unzippedBytes);
    const log = (line: string) => process.stderr.write(`[ml-lambda] ${line}\n`);
    // A uv project's lock, checked and exported to pins: both paths build exactly those versions.
    const requirements = pinnedRequirements({ requirements: cfg.requirements, runtime: cfg.runtime, cacheDir: cfg.cacheDir, log });
    let layer: LayerBuild | undefined;
    if (cfg.packaging !== "image") {
        layer = buildLayer({
            requirements: requirements.file,
            runtime: cfg.runtime,
            architecture: cfg.architecture,
            cacheDir: cfg.cacheDir,
            log,
        });
    }
    const decision = decide({
        codeBytes: code.measurement.unzippedBytes,
        layerBytes: layer ? [layer.measurement.unzippedBytes] : [],
        externalLayerBytes,
        headroomBytes: cfg.headroomBytes,
        forced: cfg.packaging,
        missingWheels: layer?.missingWheels ?? [],
        // So the reason names the culprit ("torch 5.1 GiB with what it pulls in"), not just the bytes over.
        packages: layer?.measurement.packages,
        weights: layer?.weights,
    });
    const packages = layer?.measurement.packages ?? [];
    const base = { decision, model, requirements, layer, code, packages, externalLayerBytes: externalLayerBytes.reduce((a, b) => a + b, 0) };
    if (decision.mode === "zip") return base;
    const context = stageImageContext({
        cacheDir: cfg.cacheDir,
        dockerfile: cfg.dockerfile,
        requirements: requirements.file,
        handlerDir: cfg.handlerDir,
        modelDir: model.stagedDir,
        modelContentKey: path.basename(model.stagedDir, ".dir"),
    });
    if (!opts.measureImage) return { ...base, context };
    return { ...base, context, image: measureImage(cfg, context) };
}

/** The image built from the staged context with docker.Image's own build args and platform, measured and checked. */
function measureImage(cfg: NormalizedArgs, context: StagedContext): ImageMeasurement {
    const engine = engineAnswersSync();
    if (!engine.ok) {
        throw new MlLambdaError("packaging", "image",
            `the image path builds a container image and needs a Docker engine, and none answers (${engine.why})`,
            "start Docker (or set DOCKER_HOST to a running engine) and deploy again; or deploy the zip path: backend \"onnx\" fits it");
    }
    process.stderr.write(`[ml-lambda] building the image once to measure it (docker.Image reuses the build): ${context.dir}\n`);
    const image = measureImageSync({
        context: context.dir,
        dockerfile: path.relative(context.dir, context.dockerfile),
        tag: `ml-lambda-measure/${cfg.functionName.toLowerCase()}:${context.hash.slice(0, 20)}`,
        buildArgs: imageBuildArgs(cfg),
        platform: imagePlatform(cfg),
    });
    checkImageSize(image);
    return image;
}

/**
 * docker.Image's build args and platform: one place, so the plan's measurement builds what deploy builds.
 * For builds that cannot reach the public sources: ML_LAMBDA_BASE_IMAGE replaces AWS's base image (the Dockerfile's
 * BASE_IMAGE: a mirror of it in your own registry, or the local stand-in the image tests build), and
 * ML_LAMBDA_TORCH_INDEX_URL the PyTorch CPU index (TORCH_INDEX_URL: a mirror that serves the +cpu wheels).
 */
export function imageBuildArgs(cfg: NormalizedArgs, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
    return {
        PYTHON_VERSION: RUNTIMES[cfg.runtime].python,
        ...(env.ML_LAMBDA_BASE_IMAGE ? { BASE_IMAGE: env.ML_LAMBDA_BASE_IMAGE } : {}),
        ...(env.ML_LAMBDA_TORCH_INDEX_URL ? { TORCH_INDEX_URL: env.ML_LAMBDA_TORCH_INDEX_URL } : {}),
    };
}

export function imagePlatform(cfg: NormalizedArgs): string {
    return cfg.architecture === "arm64" ? "linux/arm64" : "linux/amd64";
}

/**
 * Packages without a wheel for the runtime's platform still break the image path: the AWS base image runs the same
 * Amazon Linux, so `pip install` in the Dockerfile must compile them from source (or fail, e.g. torch 2.15 has no
 * wheel for python3.11's glibc 2.26). Say so at plan time rather than at `docker build`.
 */
export function imageBuildWarnings(cfg: NormalizedArgs, plan: PackagingPlan): string[] {
    if (plan.decision.mode !== "image" || !plan.layer?.missingWheels.length) return [];
    const names = plan.layer.missingWheels.map((m) => m.name).join(", ");
    return [`no ${cfg.runtime} ${cfg.architecture} wheel for ${names}: the image build will have to compile from source or fail; ` +
        `pin versions that publish wheels for this runtime, or use a newer runtime`];
}

export function sizeReport(plan: PackagingPlan): SizeReport {
    const measured: MeasuredParts = {
        codeBytes: plan.code.measurement.unzippedBytes,
        layerBytes: plan.layer?.measurement.unzippedBytes ?? 0,
        externalLayerBytes: plan.externalLayerBytes,
        packages: plan.packages.slice(0, 25),
    };
    if (plan.decision.mode === "zip") return { ...plan.decision, ...measured, mode: "zip" };
    const image = imageSizeReport(plan.image);
    return {
        mode: "image",
        reasons: plan.decision.reasons,
        limitBytes: IMAGE_LIMIT_BYTES,
        ...(image.uncompressedBytes !== undefined ? { totalBytes: image.uncompressedBytes } : {}),
        ...measured,
        image,
    };
}
