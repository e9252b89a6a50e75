/**
 * The plan: build, measure and decide, before any resource exists. Everything the graph's shape depends on (zip or
 * image, which artifacts, their hashes) is known when preparePackaging returns, so a mistake or an impossible
 * packaging fails before the component registers anything, and the offline plan sees the same decision as `up`.
 * Pulumi-free: the component (mlLambda.ts) only wires resources from a PackagingPlan.
 */
import * as path from "path";
import { prepareModel, PreparedModel } from "./model";
import { buildLayer, decide, Decision, LayerBuild, Measurement, PackageSize, zipDirectory } from "./packaging";
import { stageImageContext, StagedContext } from "./packaging/imageContext";
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
    packages: PackageSize[];
}

/**
 * The size report exported as a stack output, registered on the component (so tools reading the graph see the
 * decision) and printed during preview/up: the decision itself, plus what was measured.
 */
export type SizeReport = Decision & {
    codeBytes: number;
    layerBytes: number;
    externalLayerBytes: number;
    /** The largest packages of the dependency layer (at most 25). */
    packages: PackageSize[];
};

/** Build, measure and decide: everything the graph's shape depends on, before any resource exists. */
export function preparePackaging(cfg: NormalizedArgs): PackagingPlan {
    const model = prepareModel(cfg.model, cfg.cacheDir, cfg.backend);
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
    return { ...base, context };
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
    return {
        ...plan.decision,
        codeBytes: plan.code.measurement.unzippedBytes,
        layerBytes: plan.layer?.measurement.unzippedBytes ?? 0,
        externalLayerBytes: plan.externalLayerBytes,
        packages: plan.packages.slice(0, 25),
    };
}
